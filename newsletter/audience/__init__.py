"""The audience of a send: segments (who it reaches), parsed and compiled to SQL.

segments  the segment language: tokens, the parsed tree, errors naming their position
compile   a parsed segment as one SQL condition on the subscriber table
"""
