"""Hypothesis strategies shared by the suites."""

from __future__ import annotations

from hypothesis import strategies as st

# Any text a file can hold (lone surrogates cannot be encoded at all).
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
scalars = text | st.booleans() | st.integers(-(2**63), 2**63 - 1)
# What the TOML and YAML writers must write faithfully: tables of scalars, tables, lists of
# tables, mixed lists and lists of lists.
tables = st.recursive(
    st.dictionaries(text, scalars, max_size=4),
    lambda inner: st.dictionaries(
        text,
        scalars
        | inner
        | st.lists(inner, max_size=3)
        | st.lists(inner | scalars, max_size=3)
        | st.lists(st.lists(scalars, max_size=3), max_size=3),
        max_size=4,
    ),
    max_leaves=20,
)
