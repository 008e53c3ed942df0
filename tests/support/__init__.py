"""Test support shared by every test folder: fakes, NumPy references and helpers."""
