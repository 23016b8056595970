"""Stage 2: turn a valid spec into the templates' input (context, with shapes deriving Terraform types
from the schema) and lay out the files (templates; readme and shell format what they name)."""
