"""absl recipes: each `main` parses flags and calls one keras_pn library function."""
