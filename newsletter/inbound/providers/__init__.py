"""Provider webhooks: what Amazon SES (through SNS), Postmark, Mailgun and SendGrid post about
our messages, checked and read into Readings.

    events.py     what every provider shares: refusals (Rejected, Malformed, Misconfigured),
                  event digests, the age of a signed timestamp, a failure's kind by its status
    ses.py        the SNS envelope: its RSA signature against the operator's certificate, the
                  allowed topics; the SES notification inside read by inbound/ses.py
    postmark.py   HTTP Basic credentials; Bounce, SpamComplaint, SubscriptionChange, Delivery
    mailgun.py    HMAC-SHA256 of timestamp and token; failed, complained, unsubscribed, delivered
    sendgrid.py   the ECDSA signed event webhook; bounce, dropped, spamreport, unsubscribes...

Each module's `Webhook` checks one request and reads it (`accept`), or refuses it before
anything is read; newsletter/web/webhooks.py hands the Readings to the processor.
"""
