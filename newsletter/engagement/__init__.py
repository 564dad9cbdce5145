"""Engagement without surveillance: which links of a sent issue readers followed.

The signed ids in tracking URLs (/l/LINK[/DELIVERY], /o/EDITION[/DELIVERY]) are made and read
by deliver/tracking_ids.py: the worker fills a reader's id in, below this package.

models    tracked_link (each link of a mailing's edition), link_click, edition_open
tracking  an edition's email and text part with their links made tracking links, once
          per edition (never per recipient); the hidden honeypot link; the open pixel
store     tracking links stored with a mailing; a link looked up by id; clicks written
clicks    the click recorder of the web app: memory first, written in batches
agents    who clicked: a person's browser, or a scanner, a proxy or a robot
report    one send's report: per locale, link and story, human, scanner and all clicks
scanners  which clicks are scanners': robots, HEAD requests, the honeypot, bursts
timeline  clicks per hour over the first 48 hours; the delivery curve
recent    the stories of the last N sends, the most read first
documents the reports as JSON; charts and page: the HTML report (pages/report.html)
people    one reader's clicks and opens (individual tracking): subscribers show, the GDPR
          export, untied by subscribers forget
"""
