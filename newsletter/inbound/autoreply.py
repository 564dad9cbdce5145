"""Vacation and out-of-office answers (RFC 3834): never bounces, never counted.

RFC 3834 marks them `Auto-Submitted: auto-replied`; older responders use X-Autoreply,
X-Autorespond or `Precedence: auto_reply`, and some only say it in the subject, in the
reader's language. Delivery reports carry `Auto-Submitted: auto-generated` too: the caller
reads reports first, so a report is never taken for an auto-reply.
"""

from __future__ import annotations

import re
from email.message import Message

from newsletter.inbound.message_text import header_text

_AUTO_SUBMITTED = re.compile(r"^\s*auto-(?:replied|notified)\b", re.IGNORECASE)
_PRECEDENCE = re.compile(r"^\s*auto[_-]?reply\b", re.IGNORECASE)
# Subjects of out-of-office answers in the languages readers use most, at the start of the
# subject (after any `Re:`), so that a newsletter called "Vacation deals" is no auto-reply.
_SUBJECT = re.compile(
    r"^\s*(?:(?:re|aw|sv|antw|r|tr|wg)\s*:\s*)*(?:"
    r"out of (?:the )?office|automatic reply|auto(?:matic)?[ -]?(?:reply|response|answer)|autoreply"
    r"|vacation|on vacation|on leave|away from (?:the|my) office|i am (?:currently )?(?:out|away)"
    r"|abwesenheit|abwesenheitsnotiz|automatische antwort|ich bin (?:nicht im büro|abwesend)"
    r"|réponse automatique|absence du bureau|absent du bureau|je suis absent"
    r"|respuesta automática|respuesta automatica|fuera de la oficina|ausente|fuera de oficina"
    r"|risposta automatica|fuori ufficio|resposta automática|resposta automatica|ausência"
    r"|automatisch antwoord|afwezig|niet op kantoor|autosvar|frånvaro|fraværende|automaattinen vastaus"
    r"|automatyczna odpowiedź|odpowiedź automatyczna|automatická odpověď|автоответ|автоматический ответ"
    r"|自動応答|自動返信|不在|自动回复|自動回覆|자동 응답|부재중|otomatik yanıt|ofis dışında"
    r")",
    re.IGNORECASE,
)


def is_autoreply(message: Message) -> bool:
    """Whether `message` is an automatic answer to a message (vacation, out of office)."""
    if _AUTO_SUBMITTED.match(header_text(message, "Auto-Submitted")):
        return True
    if message.get("X-Autoreply") is not None or message.get("X-Autorespond") is not None:
        return True
    if message.get("X-Autoresponder") is not None:
        return True
    for name in ("Precedence", "X-Precedence"):
        if _PRECEDENCE.match(header_text(message, name)):
            return True
    # Exchange's out-of-office answers carry none of these marks: only the subject tells.
    return _SUBJECT.match(header_text(message, "Subject")) is not None
