"""Fixed pieces of the ejected PyTorch module: helper functions and classes an emitter asks for by name.

Each snippet is plain, formatted source (ruff format style) that uses only
``math``, ``numpy``, ``torch``, ``torch.nn`` (as ``nn``) and
``torch.nn.functional`` (as ``F``).  The semantics are dnnc's: the same formulas
as :mod:`dnnc.backends.torch.modules` and :mod:`dnnc.backends.torch.optimizers`,
written for reading rather than speed (one parameter at a time instead of
``torch._foreach_*``).
"""

from __future__ import annotations

SNIPPETS: dict[str, str] = {}
"""Snippet name → source (top-level statements)."""

SNIPPETS["variance_scaling_"] = '''
def variance_scaling_(tensor, scale, mode, distribution, fan_in, fan_out):
    """Keras's VarianceScaling initializer (glorot_*, he_*, lecun_* are special cases).

    The fans are those of the canonical (Keras) layout, e.g. (in, out) of a dense kernel.
    uniform: U(-sqrt(3 * scale / n), +sqrt(3 * scale / n)); untruncated_normal:
    N(0, scale / n); truncated_normal: N(0, sigma^2) cut at +-2 sigma with sigma =
    sqrt(scale / n) / 0.8796..., so that the values drawn have the std sqrt(scale / n).
    """
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    variance = scale / max(1.0, n)
    if distribution == "uniform":
        limit = math.sqrt(3.0 * variance)
        return nn.init.uniform_(tensor, a=-limit, b=limit)
    if distribution == "untruncated_normal":
        return nn.init.normal_(tensor, mean=0.0, std=math.sqrt(variance))
    std = math.sqrt(variance) / 0.87962566103423978
    return nn.init.trunc_normal_(tensor, mean=0.0, std=std, a=-2.0 * std, b=2.0 * std)
'''

SNIPPETS["selu"] = '''
def selu(x):
    """SELU written out, so that the gradient at exactly 0 is `scale`, as in TensorFlow."""
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return torch.where(x < 0, (scale * alpha) * torch.expm1(x), scale * x)
'''

SNIPPETS["KerasBatchNorm"] = '''
class KerasBatchNorm(nn.Module):
    """Batch normalisation of the last axis with Keras's semantics (dnnc's batch_norm op).

    Training mode normalises with the batch mean and the biased batch variance and then
    updates moving = momentum * moving + (1 - momentum) * batch, with the biased variance
    (torch's BatchNorm1d stores the unbiased one and weighs the new value by its
    momentum, the other way round). Inference mode uses the moving statistics, and so
    does a frozen layer (inference_mode=True, as Keras 3 runs a non-trainable batch norm)
    in training mode too, never updating them.
    """

    def __init__(self, channels, momentum, epsilon, center, scale, inference_mode):
        super().__init__()
        self.channels = channels
        self.momentum = momentum
        self.epsilon = epsilon
        self.inference_mode = inference_mode
        self.gamma = nn.Parameter(torch.empty(channels)) if scale else None
        self.beta = nn.Parameter(torch.empty(channels)) if center else None
        self.register_buffer("moving_mean", torch.empty(channels))
        self.register_buffer("moving_variance", torch.empty(channels))

    def forward(self, x):
        flat = x.reshape(-1, self.channels)
        if not self.training or self.inference_mode:
            y = F.batch_norm(
                flat,
                self.moving_mean,
                self.moving_variance,
                self.gamma,
                self.beta,
                training=False,
                momentum=0.0,
                eps=self.epsilon,
            )
            return y.view(x.shape)
        mean = flat.mean(0)
        variance = (flat - mean).square().mean(0)
        if flat.shape[0] > 1:
            y = F.batch_norm(
                flat,
                None,
                None,
                self.gamma,
                self.beta,
                training=True,
                momentum=0.0,
                eps=self.epsilon,
            )
        else:  # one row: torch's kernel refuses it, the formula does not
            y = (flat - mean) * torch.rsqrt(variance + self.epsilon)
            if self.gamma is not None:
                y = y * self.gamma
            if self.beta is not None:
                y = y + self.beta
        with torch.no_grad():
            m = self.momentum
            self.moving_mean.mul_(m).add_(mean, alpha=1.0 - m)
            self.moving_variance.mul_(m).add_(variance, alpha=1.0 - m)
        return y.view(x.shape)
'''

SNIPPETS["avg_pool_real_cells"] = '''
def avg_pool_real_cells(x, kernel_size, stride, pad):
    """Average pooling of channels-first x over each window's real cells only (TensorFlow's
    rule for padded windows): the window sums of x padded with zeros by `pad` (F.pad's
    order, the last axis first) divided by the number of input cells in each window.
    torch's own padding would be symmetric, and count_include_pad=True would count the
    padded cells.
    """
    if x.dim() == 3:  # (N, C, L) as (N, C, 1, L): avg_pool1d has no divisor_override
        x = avg_pool_real_cells(x.unsqueeze(2), (1, *kernel_size), (1, *stride), pad)
        return x.squeeze(2)
    ones = torch.ones_like(x[:1, :1])
    sums = F.avg_pool2d(F.pad(x, pad), kernel_size, stride, divisor_override=1)
    cells = F.avg_pool2d(F.pad(ones, pad), kernel_size, stride, divisor_override=1)
    return sums / cells
'''

SNIPPETS["weighted_mean"] = '''
def weighted_mean(per_sample, sample_weight=None):
    """Keras's "sum_over_batch_size": sum(sample_weight * loss) / N (not / sum of weights)."""
    if sample_weight is not None:
        shape = (-1,) + (1,) * (per_sample.dim() - 1)
        per_sample = per_sample * sample_weight.reshape(shape)
    return per_sample.mean()
'''

SNIPPETS["KerasOptimizer"] = '''
class KerasOptimizer(torch.optim.Optimizer):
    """The common part of Keras 3's optimizers, which dnnc follows (torch.optim differs).

    One step: clip the gradients (clipnorm per tensor g * c / max(|g|, c); global_clipnorm
    over all tensors g * c / max(|G|, c); clipvalue element-wise), decay the weights
    w <- w - w * weight_decay * lr (decoupled), then apply the update rule of the subclass
    with t = the number of updates including this one. The loop sets group["lr"] before
    every step (learning_rate_at(step), rounded to float32).
    """

    def __init__(
        self, params, lr, weight_decay, clipnorm, global_clipnorm, clipvalue, **kw
    ):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, **kw))
        self.clipnorm = clipnorm
        self.global_clipnorm = global_clipnorm
        self.clipvalue = clipvalue
        self.iterations = 0

    def clipped(self, grads):
        if self.clipnorm is not None:
            c = self.clipnorm
            norms = [torch.linalg.vector_norm(g) for g in grads]
            return [g * c / torch.clamp(n, min=c) for g, n in zip(grads, norms)]
        if self.global_clipnorm is not None:
            c = self.global_clipnorm
            norm = torch.sqrt(sum(torch.sum(g * g) for g in grads))
            return [g * (c * torch.clamp(1.0 / norm, max=1.0 / c)) for g in grads]
        if self.clipvalue is not None:
            return [torch.clamp(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    @torch.no_grad()
    def step(self):
        groups = self.param_groups
        params = [p for g in groups for p in g["params"] if p.grad is not None]
        grads = dict(zip(params, self.clipped([p.grad for p in params])))
        self.iterations += 1
        self.begin_step(self.iterations)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if group["weight_decay"]:
                    p.sub_(p * group["weight_decay"] * group["lr"])
                self.update(p, grads[p], self.state[p], group, self.iterations)

    def begin_step(self, t):
        """Per-step state shared by all parameters (Nadam's momentum product)."""

    def update(self, p, g, state, group, t):
        raise NotImplementedError
'''

SNIPPETS["opt:sgd"] = '''
class KerasSGD(KerasOptimizer):
    """m <- momentum * m - lr * g; w <- w + m (Nesterov: w <- w + momentum * m - lr * g);
    without momentum w <- w - lr * g."""

    def update(self, p, g, state, group, t):
        lr, mu = group["lr"], group["momentum"]
        if mu == 0:
            p.sub_(g * lr)
            return
        m = state.setdefault("momentum", torch.zeros_like(p))
        m.mul_(mu).sub_(g * lr)
        if group["nesterov"]:
            p.add_(m * mu - g * lr)
        else:
            p.add_(m)
'''

SNIPPETS["opt:adam"] = '''
class KerasAdam(KerasOptimizer):
    """m <- m + (g - m)(1 - beta_1); v <- v + (g^2 - v)(1 - beta_2);
    w <- w - lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)
    (epsilon added before the bias correction, unlike torch.optim.Adam)."""

    def update(self, p, g, state, group, t):
        b1, b2, eps = group["beta_1"], group["beta_2"], group["epsilon"]
        m = state.setdefault("m", torch.zeros_like(p))
        v = state.setdefault("v", torch.zeros_like(p))
        alpha = group["lr"] * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        m.add_((g - m) * (1.0 - b1))
        v.add_((g * g - v) * (1.0 - b2))
        if group["amsgrad"]:
            v_hat = state.setdefault("v_hat", torch.zeros_like(p))
            torch.maximum(v_hat, v, out=v_hat)
            v = v_hat
        p.sub_(m * alpha / (v.sqrt() + eps))
'''

SNIPPETS["opt:adamw"] = SNIPPETS["opt:adam"].replace("class KerasAdam(", "class KerasAdamW(").replace(
    "(epsilon added before the bias correction, unlike torch.optim.Adam).",
    "(AdamW: Adam with decoupled weight decay, which KerasOptimizer applies).")

SNIPPETS["opt:nadam"] = '''
class KerasNadam(KerasOptimizer):
    """Nadam with u_t = beta_1 (1 - 0.5 * 0.96^t) (torch.optim.NAdam uses 0.96^(0.004 t))."""

    def __init__(self, params, **kwargs):
        super().__init__(params, **kwargs)
        self.u_product = 1.0

    def u(self, t):
        return self.defaults["beta_1"] * (1.0 - 0.5 * 0.96**t)

    def begin_step(self, t):
        self.u_product *= self.u(t)

    def update(self, p, g, state, group, t):
        b1, b2, eps = group["beta_1"], group["beta_2"], group["epsilon"]
        m = state.setdefault("m", torch.zeros_like(p))
        v = state.setdefault("v", torch.zeros_like(p))
        u_t, u_next = self.u(t), self.u(t + 1)
        prod_t, prod_next = self.u_product, self.u_product * self.u(t + 1)
        m.add_((g - m) * (1.0 - b1))
        v.add_((g * g - v) * (1.0 - b2))
        m_hat = m * u_next / (1.0 - prod_next) + g * (1.0 - u_t) / (1.0 - prod_t)
        v_hat = v / (1.0 - b2**t)
        p.sub_(m_hat * group["lr"] / (v_hat.sqrt() + eps))
'''

SNIPPETS["opt:adamax"] = '''
class KerasAdamax(KerasOptimizer):
    """u <- max(beta_2 * u, |g|); w <- w - lr * m / ((1 - beta_1^t)(u + epsilon))."""

    def update(self, p, g, state, group, t):
        b1, b2, eps = group["beta_1"], group["beta_2"], group["epsilon"]
        m = state.setdefault("m", torch.zeros_like(p))
        u = state.setdefault("u", torch.zeros_like(p))
        m.add_((g - m) * (1.0 - b1))
        torch.maximum(u * b2, g.abs(), out=u)
        p.sub_(m * group["lr"] / ((u + eps) * (1.0 - b1**t)))
'''

SNIPPETS["opt:rmsprop"] = '''
class KerasRMSprop(KerasOptimizer):
    """v <- rho * v + (1 - rho) g^2; inc = lr * g / sqrt(v + epsilon) (centered: v - a^2 + epsilon
    with a <- rho * a + (1 - rho) g); with momentum b <- momentum * b + inc, w <- w - b."""

    def update(self, p, g, state, group, t):
        rho, mu, eps, lr = group["rho"], group["momentum"], group["epsilon"], group["lr"]
        v = state.setdefault("v", torch.zeros_like(p))
        v.mul_(rho).add_(g * g * (1.0 - rho))
        if group["centered"]:
            a = state.setdefault("mean_grad", torch.zeros_like(p))
            a.mul_(rho).add_(g * (1.0 - rho))
            denominator = (v - a * a + eps).sqrt()
        else:
            denominator = (v + eps).sqrt()
        if mu > 0:
            b = state.setdefault("momentum", torch.zeros_like(p))
            b.mul_(mu).add_(g * lr / denominator)
            p.sub_(b)
        else:
            p.sub_(g * lr / denominator)
'''

SNIPPETS["opt:adagrad"] = '''
class KerasAdagrad(KerasOptimizer):
    """acc <- acc + g^2 (from initial_accumulator_value); w <- w - lr * g / sqrt(acc + epsilon)."""

    def update(self, p, g, state, group, t):
        initial = group["initial_accumulator_value"]
        acc = state.setdefault("accumulator", torch.full_like(p, initial))
        acc.add_(g * g)
        p.sub_(g * group["lr"] / (acc + group["epsilon"]).sqrt())
'''

SNIPPETS["opt:adadelta"] = '''
class KerasAdadelta(KerasOptimizer):
    """E_g <- rho E_g + (1 - rho) g^2; d = sqrt(E_d + epsilon) / sqrt(E_g + epsilon) * g;
    E_d <- rho E_d + (1 - rho) d^2; w <- w - lr * d."""

    def update(self, p, g, state, group, t):
        rho, eps = group["rho"], group["epsilon"]
        e_g = state.setdefault("mean_sq_grad", torch.zeros_like(p))
        e_d = state.setdefault("mean_sq_delta", torch.zeros_like(p))
        e_g.mul_(rho).add_(g * g * (1.0 - rho))
        delta = (e_d + eps).sqrt() * g / (e_g + eps).sqrt()
        e_d.mul_(rho).add_(delta * delta * (1.0 - rho))
        p.sub_(delta * group["lr"])
'''

OPTIMIZER_CLASSES = {
    "sgd": "KerasSGD", "adam": "KerasAdam", "adamw": "KerasAdamW", "nadam": "KerasNadam",
    "adamax": "KerasAdamax", "rmsprop": "KerasRMSprop", "adagrad": "KerasAdagrad", "adadelta": "KerasAdadelta",
}

# -- callbacks of the training loop ---------------------------------------------------------

SNIPPETS["Monitor"] = '''
class Monitor:
    """One watched history key; an improvement is a change beyond |min_delta| (Keras 3)."""

    def __init__(self, key, mode, min_delta):
        self.key, self.mode, self.min_delta = key, mode, abs(min_delta)

    def improved(self, current, best):
        if best is None:
            return True
        if self.mode == "min":
            return current + self.min_delta < best
        return current - self.min_delta > best
'''

SNIPPETS["EarlyStopping"] = '''
class EarlyStopping:
    """Stop when the monitor has not improved for `patience` epochs (Keras 3 semantics;
    with restore_best_weights the best epoch's weights are restored at the end of training,
    even when it did not stop early)."""

    def __init__(
        self, monitor, mode, min_delta, patience, baseline, restore, start_from
    ):
        self.watch = Monitor(monitor, mode, min_delta)
        self.patience, self.baseline = patience, baseline
        self.restore, self.start_from = restore, start_from
        self.wait, self.best, self.best_state = 0, None, None

    def on_epoch_end(self, epoch, logs, run):
        current = logs.get(self.watch.key)
        if current is None or epoch < self.start_from:
            return False
        if self.restore and self.best_state is None:
            self.best_state = copy.deepcopy(run.model.state_dict())
        self.wait += 1
        if self.watch.improved(current, self.best):
            self.best = current
            if self.restore:
                self.best_state = copy.deepcopy(run.model.state_dict())
            if self.baseline is None or self.watch.improved(current, self.baseline):
                self.wait = 0
            return False
        return self.wait >= self.patience and epoch > 0

    def on_train_end(self, run):
        if self.restore and self.best_state is not None:
            run.model.load_state_dict(self.best_state)
'''

SNIPPETS["ReduceLROnPlateau"] = '''
class ReduceLROnPlateau:
    """Multiply the learning rate by `factor` when the monitor stops improving (Keras 3)."""

    def __init__(self, monitor, mode, factor, patience, min_delta, cooldown, min_lr):
        self.watch = Monitor(monitor, mode, min_delta)
        self.factor, self.patience = factor, patience
        self.cooldown, self.min_lr = cooldown, min_lr
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs, run):
        old_lr = run.learning_rate()
        logs["learning_rate"] = old_lr
        current = logs.get(self.watch.key)
        if current is None:
            return False
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self.watch.improved(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience and old_lr > float(np.float32(self.min_lr)):
                new_lr = float(np.float32(max(old_lr * self.factor, self.min_lr)))
                run.lr_factor *= new_lr / old_lr
                self.cooldown_counter, self.wait = self.cooldown, 0
        return False
'''

SNIPPETS["ModelCheckpoint"] = '''
class ModelCheckpoint:
    """Save the model's state_dict at epoch ends; the path may use {epoch} (1-based) and any
    history key. With save_best_only, only when the monitor improves."""

    def __init__(self, path, monitor, mode, save_best_only):
        self.path, self.watch = path, Monitor(monitor, mode, 0.0)
        self.save_best_only, self.best = save_best_only, None

    def on_epoch_end(self, epoch, logs, run):
        if self.save_best_only:
            current = logs.get(self.watch.key)
            if current is not None and not self.watch.improved(current, self.best):
                return False
            self.best = current
        path = Path(self.path.format(epoch=epoch + 1, **logs))
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(run.model.state_dict(), path)
        return False
'''

SNIPPETS["CsvLogger"] = '''
class CsvLogger:
    """Append one CSV row of the epoch's logs per epoch."""

    def __init__(self, path, append):
        self.path, self.append = Path(path), append
        self.header_written = append and self.path.exists()

    def on_epoch_end(self, epoch, logs, run):
        mode = "a" if self.append or self.header_written else "w"
        with open(self.path, mode, newline="") as f:
            writer = csv.writer(f)
            if not self.header_written:
                writer.writerow(["epoch", *logs])
                self.header_written = True
            writer.writerow([epoch, *logs.values()])
        return False
'''

SNIPPETS["TerminateOnNaN"] = '''
class TerminateOnNaN:
    """Stop as soon as the epoch's loss is NaN or infinite."""

    def on_epoch_end(self, epoch, logs, run):
        return not math.isfinite(logs["loss"])
'''

SNIPPETS["TensorBoard"] = '''
class TensorBoard:
    """Per-epoch scalars as TensorBoard event files (needs the tensorboard package)."""

    def __init__(self, log_dir):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir)

    def on_epoch_end(self, epoch, logs, run):
        for key, value in logs.items():
            self.writer.add_scalar(key, value, epoch)
        self.writer.flush()
        return False
'''

#: Snippets each snippet needs first.
REQUIRES: dict[str, tuple[str, ...]] = {
    **{f"opt:{k}": ("KerasOptimizer",) for k in OPTIMIZER_CLASSES},
    "EarlyStopping": ("Monitor",),
    "ReduceLROnPlateau": ("Monitor",),
    "ModelCheckpoint": ("Monitor",),
}

# -- recurrent layers -------------------------------------------------------------------------

SNIPPETS["gru_gates_to_torch"] = '''
def gru_gates_to_torch(a):
    """Keras's GRU gate blocks z, r, h (side by side on the last axis) in torch's order
    r, z, n: the layout of nn.GRU's weight_ih_l0, weight_hh_l0 (before transposing) and
    of each of its two biases."""
    z, r, h = np.split(a, 3, axis=-1)
    return np.concatenate([r, z, h], axis=-1)
'''

SNIPPETS["SequenceDropout"] = '''
class SequenceDropout(nn.Module):
    """The dropout of a recurrent layer, Keras's rule: one keep mask per sequence, the
    same at every step. forward(x) returns the scaled keep values keep / (1 - rate) for
    the sequences x (batch, steps, features), of shape (batch, gates, size): one mask
    per gate, or gates = 1, one mask shared by every gate. The layers call it in
    training mode only; the draws are torch's (the global generator seeded by
    build_model), not dnnc's.
    """

    def __init__(self, rate, gates, size):
        super().__init__()
        self.rate, self.gates, self.size = rate, gates, size

    def forward(self, x):
        shape = (x.shape[0], self.gates, self.size)
        keep = torch.rand(shape, device=x.device) >= self.rate
        return keep.to(x.dtype) / (1.0 - self.rate)
'''

SNIPPETS["KerasRecurrent"] = '''
class KerasRecurrent(nn.Module):
    """The common part of the explicit recurrent layers below: Keras's cell written out,
    one step per time step, where torch's fused nn.RNN/nn.LSTM/nn.GRU do not compute it.

    The parameters are dnnc's canonical (Keras's) arrays as they are: kernel
    (features, k * units), recurrent_kernel (units, k * units) and the bias, with the k
    gate blocks side by side in Keras's order. forward(x) maps a sequence
    (batch, steps, features), already in processing order, to the state after every
    step (batch, steps, units), from a zero state. In training mode, dropout multiplies
    x_t by an input mask and recurrent_dropout h_{t-1} by a state mask in each gate's
    recurrent matmul, both drawn once per sequence (SequenceDropout); with
    recurrent_dropout the input masks are per gate too, else one is shared.
    """

    gates = 1

    def __init__(
        self, features, units, use_bias, bias_shape, dropout, recurrent_dropout
    ):
        super().__init__()
        k = self.gates
        self.units = units
        self.kernel = nn.Parameter(torch.empty(features, k * units))
        self.recurrent_kernel = nn.Parameter(torch.empty(units, k * units))
        self.bias = nn.Parameter(torch.empty(bias_shape)) if use_bias else None
        per_gate = k if recurrent_dropout > 0 else 1
        self.input_mask = None
        if dropout > 0:
            self.input_mask = SequenceDropout(dropout, per_gate, features)
        self.state_mask = None
        if recurrent_dropout > 0:
            self.state_mask = SequenceDropout(recurrent_dropout, k, units)

    def forward(self, x):
        mx = mh = None
        if self.training and self.input_mask is not None:
            mx = self.input_mask(x)
        if self.training and self.state_mask is not None:
            mh = self.state_mask(x)
        return self.steps(x, mx, mh)

    def gate_inputs(self, x, mx):
        """x once per gate, times that gate's input mask (or the shared one)."""
        if mx is None:
            return [x] * self.gates
        masks = [mx[:, 0]] * self.gates if mx.shape[1] == 1 else list(mx.unbind(1))
        return [x * m[:, None, :] for m in masks]

    def gate_states(self, h, mh):
        """h_{t-1} once per gate, times that gate's state mask when there is one."""
        if mh is None:
            return [h] * self.gates
        return [h * m for m in mh.unbind(1)]

    @staticmethod
    def project(x, kernel, bias):
        return x @ kernel if bias is None else x @ kernel + bias

    def split(self, t):
        """The k gate blocks of the last axis (None: k times None)."""
        return [None] * self.gates if t is None else list(t.chunk(self.gates, dim=-1))
'''

SNIPPETS["KerasSimpleRNN"] = '''
class KerasSimpleRNN(KerasRecurrent):
    """Keras's SimpleRNN: h_t = activation(x_t kernel + h_{t-1} recurrent_kernel + bias)."""

    gates = 1

    def __init__(
        self, features, units, activation, use_bias, dropout, recurrent_dropout
    ):
        super().__init__(
            features, units, use_bias, (units,), dropout, recurrent_dropout
        )
        self.activation = activation

    def steps(self, x, mx, mh):
        (xs,) = self.gate_inputs(x, mx)
        projected = self.project(xs, self.kernel, self.bias)
        h = x.new_zeros(x.shape[0], self.units)
        states = []
        for t in range(x.shape[1]):
            (hs,) = self.gate_states(h, mh)
            h = self.activation(projected[:, t] + hs @ self.recurrent_kernel)
            states.append(h)
        return torch.stack(states, dim=1)
'''

SNIPPETS["KerasLSTM"] = '''
class KerasLSTM(KerasRecurrent):
    """Keras's LSTM, gate blocks i, f, c, o: z_g = x_t kernel_g + h_{t-1}
    recurrent_kernel_g + bias_g; c_t = f c_{t-1} + i activation(z_c) and
    h_t = o activation(c_t), with i, f, o = recurrent_activation(z_i, z_f, z_o)."""

    gates = 4

    def __init__(
        self,
        features,
        units,
        activation,
        recurrent_activation,
        use_bias,
        dropout,
        recurrent_dropout,
    ):
        super().__init__(
            features, units, use_bias, (4 * units,), dropout, recurrent_dropout
        )
        self.activation = activation
        self.recurrent_activation = recurrent_activation

    def steps(self, x, mx, mh):
        kernels, biases = self.split(self.kernel), self.split(self.bias)
        inputs = self.gate_inputs(x, mx)
        projected = [self.project(*a) for a in zip(inputs, kernels, biases)]
        recurrent = self.split(self.recurrent_kernel)
        h = c = x.new_zeros(x.shape[0], self.units)
        states = []
        for t in range(x.shape[1]):
            hs = self.gate_states(h, mh)
            zi, zf, zc, zo = (
                p[:, t] + s @ u for p, s, u in zip(projected, hs, recurrent)
            )
            i = self.recurrent_activation(zi)
            f = self.recurrent_activation(zf)
            o = self.recurrent_activation(zo)
            c = f * c + i * self.activation(zc)
            h = o * self.activation(c)
            states.append(h)
        return torch.stack(states, dim=1)
'''

SNIPPETS["KerasGRU"] = '''
class KerasGRU(KerasRecurrent):
    """Keras's GRU, gate blocks z, r, h. reset_after: gx = x_t kernel + bias[0] and
    gh = h_{t-1} recurrent_kernel + bias[1], z = recurrent_activation(gx_z + gh_z), r
    likewise, candidate = activation(gx_h + r gh_h); otherwise one bias (in gx), gh
    without bias and candidate = activation(gx_h + (r h_{t-1}) recurrent_kernel_h). Then
    h_t = z h_{t-1} + (1 - z) candidate."""

    gates = 3

    def __init__(
        self,
        features,
        units,
        activation,
        recurrent_activation,
        use_bias,
        reset_after,
        dropout,
        recurrent_dropout,
    ):
        bias_shape = (2, 3 * units) if reset_after else (3 * units,)
        super().__init__(
            features, units, use_bias, bias_shape, dropout, recurrent_dropout
        )
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.reset_after = reset_after

    def steps(self, x, mx, mh):
        input_bias = recurrent_bias = self.bias
        if self.bias is not None and self.reset_after:
            input_bias, recurrent_bias = self.bias[0], self.bias[1]
        if not self.reset_after:
            recurrent_bias = None
        kernels, biases = self.split(self.kernel), self.split(input_bias)
        inputs = self.gate_inputs(x, mx)
        projected = [self.project(*a) for a in zip(inputs, kernels, biases)]
        recurrent = self.split(self.recurrent_kernel)
        recurrent_biases = self.split(recurrent_bias)
        h = x.new_zeros(x.shape[0], self.units)
        states = []
        for t in range(x.shape[1]):
            gx_z, gx_r, gx_h = (p[:, t] for p in projected)
            hz, hr, hh = self.gate_states(h, mh)
            z = self.recurrent_activation(
                gx_z + self.project(hz, recurrent[0], recurrent_biases[0])
            )
            r = self.recurrent_activation(
                gx_r + self.project(hr, recurrent[1], recurrent_biases[1])
            )
            if self.reset_after:
                gh_h = r * self.project(hh, recurrent[2], recurrent_biases[2])
            else:
                gh_h = (r * hh) @ recurrent[2]
            h = z * h + (1 - z) * self.activation(gx_h + gh_h)
            states.append(h)
        return torch.stack(states, dim=1)
'''

REQUIRES.update({
    "KerasRecurrent": ("SequenceDropout",),
    "KerasSimpleRNN": ("KerasRecurrent",),
    "KerasLSTM": ("KerasRecurrent",),
    "KerasGRU": ("KerasRecurrent",),
})
