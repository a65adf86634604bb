"""Turn definition files (Python or YAML) into validated Pipeline objects, with a parse cache."""
