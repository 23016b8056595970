"""codemate-tfgen: CodeMate's AWS infrastructure as plain, verified Terraform."""

__version__ = "0.1.0"
