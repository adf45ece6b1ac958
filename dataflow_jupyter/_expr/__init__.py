"""The meter of safe expressions (private to ``dataflow_jupyter.expressions``).

``budget``: the two budgets (memory and CPU), charging and measuring. ``operators``: guards
of operators, conversions, unpacking, slices and comparisons. ``calls``: the safe functions
and the table of methods.
"""
