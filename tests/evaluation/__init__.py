"""Tests of keras_pn.evaluation."""
