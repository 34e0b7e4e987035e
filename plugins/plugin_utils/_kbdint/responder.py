# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The responder: answers keyboard-interactive prompts from explicit rules, or refuses.

A rule maps a regular expression on a prompt to one or more answer sources:

``password``
    the connection password;
``totp``
    a TOTP code computed at the moment of answering (reuse-guarded);
``static``
    ``value`` as given (put it in Ansible Vault);
``env``
    the controller environment variable named by ``value``;
``command``
    the standard output of ``value`` (a command line or argv list), which gets the
    prompt on standard input and in ``FLEETAUTH_KBDINT_PROMPT``;
``ask``
    the person at the controller's terminal.

A list of sources is concatenated (``[password, totp]`` answers pam_google_authenticator's
``forward_pass`` prompt). Prompts are matched on their last line, stripped: before
OpenSSH 10.3, PAM info text is glued in front of the next prompt.

Without rules, the password goes only to a plain login prompt (``Password:``,
``user@host's password:``) and a TOTP code only, with a secret configured, to a
prompt asking for a verification code or one-time password. Everything else fails
closed: nothing of the round is sent and the error names the prompt and the round.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time

from .errors import AuthError, PromptRefused

SOURCES = ("password", "totp", "static", "env", "command", "ask")
VALUE_SOURCES = ("static", "env", "command")
SECRET_SOURCES = ("password", "totp")
MODES = ("auto", "ask_all")
ECHO_CHOICES = ("off", "on", "any")
RULE_KEYS = ("prompt", "source", "value", "echo", "name")

DEFAULT_PASSWORD_PATTERN = r"(?i)^(?:[\w.@-]+'s\s+)?password\s*:?$"  # noqa: S105  # a prompt pattern, not a password
DEFAULT_TOTP_PATTERN = (
    r"(?i)^(?:verification\s+code"
    r"|one-time\s+password(?:\s+\(oath\))?(?:\s+for\s+[`'\"]?[\w.@-]+[`'\"]?)?"
    r"|(?:enter\s+)?(?:your\s+)?(?:otp|totp|one-time|authenticator|verification|2fa|mfa)\s+(?:code|token|password)"
    r"|otp|token\s+code)\s*:?$"
)
MAX_ROUNDS = 20
MAX_PROMPTS = 10
# A PAM stack asks for one code per login; a server asking again is harvesting.
MAX_CODES_PER_LOGIN = 1
MAX_SHOWN = 300


def printable(text, limit: int = MAX_SHOWN) -> str:
    """Server-supplied text made safe to show: control characters escaped, length bounded."""
    text = "" if text is None else str(text)
    out = []
    for char in text:
        if char in "\n\t" or (char.isprintable() and char != "\x7f"):
            out.append(char)
        else:
            out.append("\\x%02x" % ord(char) if ord(char) < 256 else "\\u%04x" % ord(char))
    shown = "".join(out)
    if len(shown) > limit:
        shown = shown[:limit] + "...(%d more characters)" % (len(shown) - limit)
    return shown


def quoted(text) -> str:
    return "'%s'" % printable(text).replace("\n", "\\n")


def split_prompt(text: str):
    """Return (info lines glued before the prompt, the prompt's last line, stripped)."""
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    last = lines[-1].strip() if lines else ""
    info = "\n".join(line for line in lines[:-1] if line.strip())
    return info, last


class Rule:
    def __init__(self, index: int, prompt: str, sources, value=None, echo=None, name=None):
        self.index = index
        self.pattern_text = prompt
        self.pattern = re.compile(prompt)
        self.sources = tuple(sources)
        self.value = value
        self.echo = echo or ("off" if any(s in SECRET_SOURCES for s in self.sources) else "any")
        self.name = name

    @property
    def label(self) -> str:
        what = "+".join(self.sources)
        if self.name:
            return "rule %d %r (%s)" % (self.index, self.name, what)
        return "rule %d (%s)" % (self.index, what)

    def matches(self, line: str) -> bool:
        return self.pattern.search(line) is not None


def _fail(index, message):
    raise AuthError("responder rule %d: %s; see the responder_rules option (ansible_kbdint_responder_rules)" % (index, message))


def parse_rules(raw):
    """Validate and compile ``responder_rules`` (a list of mappings, or JSON text of one)."""
    if raw is None or raw in ("", []):
        return []
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise AuthError("responder_rules must be a list of mappings (or JSON text of one); it could not be parsed as JSON") from None
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, (list, tuple)):
        raise AuthError("responder_rules must be a list of mappings, got %s" % type(raw).__name__)
    rules = []
    for index, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            _fail(index, "must be a mapping with prompt and source, got %s" % type(item).__name__)
        unknown = sorted(str(k) for k in item if k not in RULE_KEYS)
        if unknown:
            _fail(index, "unknown key(s) %s (allowed: %s)" % (", ".join(unknown), ", ".join(RULE_KEYS)))
        prompt = item.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            _fail(index, "'prompt' must be a non-empty regular expression")
        try:
            re.compile(prompt)
        except re.error as exc:
            _fail(index, "'prompt' is not a valid regular expression (%s)" % exc)
        sources = item.get("source")
        if isinstance(sources, str):
            sources = [sources]
        if not isinstance(sources, (list, tuple)) or not sources or not all(isinstance(s, str) for s in sources):
            _fail(index, "'source' must be one of %s or a list of them" % ", ".join(SOURCES))
        sources = [s.strip().lower() for s in sources]
        bad = [s for s in sources if s not in SOURCES]
        if bad:
            _fail(index, "unknown source %s (use %s)" % (", ".join(repr(b) for b in bad), ", ".join(SOURCES)))
        if "ask" in sources and len(sources) > 1:
            _fail(index, "source 'ask' cannot be combined with other sources")
        needing = [s for s in sources if s in VALUE_SOURCES]
        if len(needing) > 1:
            _fail(index, "at most one of %s per rule (each needs its own 'value')" % ", ".join(VALUE_SOURCES))
        value = item.get("value")
        if needing:
            if value is None or value in ("", []):
                _fail(index, "source %r needs a 'value'" % needing[0])
            if needing[0] == "command":
                if isinstance(value, (list, tuple)):
                    if not all(isinstance(v, str) for v in value):
                        _fail(index, "a command 'value' given as a list must hold strings")
                    value = [str(v) for v in value]
                elif isinstance(value, str):
                    value = shlex.split(value)
                else:
                    _fail(index, "a command 'value' must be a command line or an argv list")
            elif needing[0] == "env":
                if not isinstance(value, str):
                    _fail(index, "an env 'value' must name an environment variable")
            else:
                value = str(value)
        elif value is not None:
            _fail(index, "'value' is only used by the %s sources" % "/".join(VALUE_SOURCES))
        echo = item.get("echo")
        if isinstance(echo, bool):
            echo = "on" if echo else "off"
        if echo is not None:
            echo = str(echo).lower()
            if echo not in ECHO_CHOICES:
                _fail(index, "'echo' must be off, on or any")
        name = item.get("name")
        rules.append(Rule(index, prompt, sources, value=value, echo=echo, name=None if name is None else str(name)))
    return rules


def default_rules(with_totp: bool):
    rules = [Rule(0, DEFAULT_PASSWORD_PATTERN, ["password"], name="default: login password")]
    if with_totp:
        rules.append(Rule(0, DEFAULT_TOTP_PATTERN, ["totp"], name="default: verification code"))
    return rules


class Responder:
    """Answers the rounds of one keyboard-interactive login, or refuses them."""

    def __init__(
        self,
        rules=None,
        mode: str = "auto",
        password=None,
        totp=None,
        guard=None,
        guard_key=None,
        ask=None,
        info=None,
        trace=None,
        redactor=None,
        command_timeout: float = 30,
        max_totp_wait: float | None = None,
        on_totp_wait=None,
        environ=None,
        label: str = "",
    ):
        if mode not in MODES:
            raise AuthError("responder_mode must be one of %s, got %r" % (", ".join(MODES), mode))
        self.mode = mode
        self.password = password if password not in ("", None) else None
        self.totp = totp
        self.guard = guard
        self.guard_key = guard_key
        self.ask = ask
        self.info = info or (lambda text: None)
        self.trace = trace or (lambda text: None)
        self.redactor = redactor
        self.command_timeout = command_timeout
        self.max_totp_wait = max_totp_wait
        self.on_totp_wait = on_totp_wait
        self.environ = os.environ if environ is None else environ
        self.label = label
        user_rules = parse_rules(rules) if not isinstance(rules, list) or not all(isinstance(r, Rule) for r in rules) else rules
        self.custom = bool(user_rules)
        self.rules = user_rules or default_rules(with_totp=totp is not None)
        self.round = 0
        self.codes_sent = 0
        if redactor is not None:
            redactor.add(self.password)
            if totp is not None:
                redactor.add(totp.secret)
            for rule in self.rules:
                if "static" in rule.sources:
                    redactor.add(rule.value)

    def begin(self) -> None:
        """Start counting rounds for a new keyboard-interactive attempt."""
        self.round = 0
        self.codes_sent = 0

    # -- one round -------------------------------------------------------

    def answer(self, name, instruction, prompts):
        """Answers for one round: a list with one string per prompt, or PromptRefused."""
        self.round += 1
        round_no = self.round
        if round_no > MAX_ROUNDS:
            raise PromptRefused("keyboard-interactive: the server asked more than %d rounds; giving up (nothing more was sent)" % MAX_ROUNDS)
        header = " ".join(printable(t) for t in (name, instruction) if t and str(t).strip())
        if not prompts:
            if header:
                self.info("keyboard-interactive round %d (no prompt): %s" % (round_no, header))
            return []
        if header:
            self.info("keyboard-interactive round %d: %s" % (round_no, header))
        if len(prompts) > MAX_PROMPTS:
            raise PromptRefused(
                "keyboard-interactive round %d asked %d prompts at once (more than %d); nothing was sent for this round" % (round_no, len(prompts), MAX_PROMPTS)
            )
        plan = []
        for position, (text, echo) in enumerate(prompts, start=1):
            glued, line = split_prompt(text)
            if glued:
                self.info("keyboard-interactive round %d: %s" % (round_no, printable(glued)))
            plan.append((position, text, line, bool(echo), self._choose(round_no, position, len(prompts), line, bool(echo))))
        # Every prompt of the round has a rule before any answer is produced:
        # a refusal anywhere sends nothing at all.
        answers = []
        for position, text, line, echo, rule in plan:
            answers.append(self._produce(round_no, position, len(prompts), text, line, echo, rule))
        return answers

    def _where(self, round_no, position, count, line, echo) -> str:
        where = "keyboard-interactive round %d" % round_no
        if count > 1:
            where += " (prompt %d of %d)" % (position, count)
        return "%s asked %s (echo %s)" % (where, quoted(line), "on" if echo else "off")

    def _refuse(self, round_no, position, count, line, echo, why, hint=None):
        message = "%s%s: %s; nothing was sent for this round" % (self.label and self.label + ": ", self._where(round_no, position, count, line, echo), why)
        if hint:
            message += ". " + hint
        raise PromptRefused(message)

    def _choose(self, round_no, position, count, line, echo):
        if self.mode == "ask_all":
            return Rule(0, r".*", ["ask"], name="ask_all mode")
        for rule in self.rules:
            if rule.matches(line):
                if rule.echo == "off" and echo:
                    self._refuse(
                        round_no,
                        position,
                        count,
                        line,
                        echo,
                        "%s matches but demands a prompt with echo off, and the server would echo the answer" % rule.label,
                        "Set echo: on (or any) in the rule if this is expected",
                    )
                if rule.echo == "on" and not echo:
                    self._refuse(round_no, position, count, line, echo, "%s matches but demands a prompt with echo on" % rule.label)
                return rule
        if self.custom:
            hint = "No responder rule matches it. Add one to responder_rules (ansible_kbdint_responder_rules) if this prompt is expected"
        else:
            hint = (
                "No responder rules are set and the defaults only answer a plain login 'Password:' prompt"
                + (" and a verification-code prompt" if self.totp is not None else " (and a verification-code prompt once totp_secret is set)")
                + ". Add a rule to responder_rules (ansible_kbdint_responder_rules) if this prompt is expected"
            )
        self._refuse(round_no, position, count, line, echo, "it is not a prompt this connection answers", hint)
        return None  # not reached

    def _produce(self, round_no, position, count, text, line, echo, rule):
        parts = []
        for source in rule.sources:
            parts.append(self._source(source, rule, round_no, position, count, text, line, echo))
        answer = "".join(parts)
        if self.redactor is not None and not echo:
            self.redactor.add(answer)
        self.trace("keyboard-interactive round %d: answering %s with %s" % (round_no, quoted(line), rule.label))
        return answer

    def _source(self, source, rule, round_no, position, count, text, line, echo):
        def refuse(why):
            self._refuse(round_no, position, count, line, echo, "%s matches but %s" % (rule.label, why))

        if source == "password":
            if self.password is None:
                refuse("no password is set (ansible_password or the password option)")
            return str(self.password)
        if source == "totp":
            if self.totp is None:
                refuse("no TOTP secret is set (totp_secret, ansible_kbdint_totp_secret)")
            if self.codes_sent >= MAX_CODES_PER_LOGIN:
                refuse("a verification code was already sent in this login and a PAM stack asks for one; a second request looks like harvesting")
            self.codes_sent += 1
            if self.guard is not None:
                code = self.guard.code(self.guard_key or "", self.totp, on_wait=self.on_totp_wait, max_wait=self.max_totp_wait)
            else:
                code = self.totp.code_at(time.time())
            if self.redactor is not None:
                self.redactor.add(code)
            return code
        if source == "static":
            return rule.value
        if source == "env":
            value = self.environ.get(rule.value)
            if value is None:
                refuse("the environment variable %s is not set on the controller" % rule.value)
            if self.redactor is not None:
                self.redactor.add(value)
            return value
        if source == "command":
            return self._run_command(rule, round_no, text, echo, refuse)
        if source == "ask":
            if self.ask is None:
                refuse("nobody can be asked here (no terminal)")
            try:
                value = self.ask(printable(text), echo)
            except AuthError:
                raise
            except Exception as exc:  # pylint: disable=broad-exception-caught  # Display raises several kinds
                refuse("asking the person at the controller failed (%s)" % type(exc).__name__)
            if value is None:
                refuse("nobody answered")
            if self.redactor is not None and not echo:
                self.redactor.add(value)
            return value
        refuse("its source %r is unknown" % source)
        return ""  # not reached

    def _run_command(self, rule, round_no, text, echo, refuse):
        env = dict(self.environ)
        env.update(
            {
                "FLEETAUTH_KBDINT_PROMPT": text or "",
                "FLEETAUTH_KBDINT_ROUND": str(round_no),
                "FLEETAUTH_KBDINT_ECHO": "on" if echo else "off",
            }
        )
        try:
            done = subprocess.run(
                rule.value,
                input=(text or "").encode("utf-8", "surrogateescape"),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
                timeout=self.command_timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            refuse("its command did not answer within %s s" % self.command_timeout)
        except OSError as exc:
            refuse("its command could not be started (%s)" % (exc.strerror or type(exc).__name__))
        if done.returncode != 0:
            refuse("its command exited with status %d (its output is not shown)" % done.returncode)
        value = done.stdout.decode("utf-8", "surrogateescape")
        if value.endswith("\n"):
            value = value[:-1]
        if value.endswith("\r"):
            value = value[:-1]
        if self.redactor is not None:
            self.redactor.add(value)
        return value

    # -- the password method ----------------------------------------------

    def password_for_method(self):
        """The password for SSH's own ``password`` method (not a prompt), or None."""
        return self.password
