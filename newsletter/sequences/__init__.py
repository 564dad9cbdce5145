"""Welcome and onboarding sequences: Markdown steps in git, sent through the outbox.

files     the steps of each sequence (`sequences/NAME/NN-slug.md`, translations beside)
models    the tables: steps first seen, members, the step each member was sent
progress  who enters and leaves, which steps are due, and queuing them (exactly once)
queue     one pass for `newsletter run`: steps rendered per version, due steps queued
status    who is where: `newsletter sequence status`
"""
