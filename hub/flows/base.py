"""The Flow contract, where a flow's author looks for it: defined in ``hub.plugins.flow``."""

from hub.plugins.flow import Answer, AnswerHook, Demo, Flow, Job, Observer, Validator

__all__ = ["Answer", "AnswerHook", "Demo", "Flow", "Job", "Observer", "Validator"]
