"""Engagement without surveillance: which links of a sent issue readers followed.

models    tracked_link (each link of a mailing's edition), link_click, edition_open
signing   the signed ids in tracking URLs: /l/LINK[/DELIVERY], /o/EDITION[/DELIVERY]
tracking  an edition's email and text part with their links made tracking links, once
          per edition (never per recipient); the hidden honeypot link; the open pixel
store     tracking links stored with a mailing; a link looked up by id; clicks written
clicks    the click recorder of the web app: memory first, written in batches
agents    who clicked: a person's browser, or a scanner, a proxy or a robot
report    clicks per link, story and locale, human and all; opens; the last N issues
people    one reader's clicks and opens (individual tracking): subscribers show, the GDPR
          export, untied by subscribers forget
"""
