"""Test plumbing shared by every test suite: polling for a condition, throwaway containers.

Plain modules, importable from tests, e2e_tests and bench alike; the pytest hooks and
fixtures that use them stay in the root `conftest.py`.
"""
