"""zorghub-receiver: receive a zorghub inbox with exactly-once effect in your own database."""

from zorghub_receiver.message import SEQ_HEADER, STREAM_HEADER, Message
from zorghub_receiver.receiver import RESEND_KIND, Receiver, Stats

__all__ = ["Message", "Receiver", "Stats", "RESEND_KIND", "SEQ_HEADER", "STREAM_HEADER"]
