"""Topic Lab: topic models over ad-campaign keywords, and the MLOps loop around them.

The package is the product; the Streamlit pages and the CLI (`python -m core`) are thin
views over it. Nothing in here imports streamlit.
"""

__version__ = "0.1.0"
