"""One module per part of the infrastructure, each contributing to an environment's root module.

A section module defines `variables(spec)` and `outputs(spec)` (lists of root_variable /
root_output) and has a template `templates/environments/main/<section>.tf.j2` with its module
calls. build_context collects them in the order of SECTIONS.
"""
