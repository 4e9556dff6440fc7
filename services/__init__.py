"""The use cases: one function each, one transaction each; never imports Flask or marshmallow."""
