"""Stage 3: read the rendered tree back and check it before anything is written (crossref: references
between files and modules; hcltypes: variable uses against their types; tfschema: the provider schema)."""
