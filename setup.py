# All metadata lives in pyproject.toml; this file only lets tools that still call setup.py work.
from setuptools import setup

setup()
