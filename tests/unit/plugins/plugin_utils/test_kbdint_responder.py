# Copyright: fleetauth.ssh contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The responder: explicit rules, safe defaults, fail closed, no secret in any message."""

from __future__ import annotations

import sys
import time

import pyotp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kbdint_fixtures import PASSWORD, TOTP_SECRET

from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.errors import AuthError, PromptRefused
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.redact import Redactor
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.responder import (
    DEFAULT_PASSWORD_PATTERN,
    DEFAULT_TOTP_PATTERN,
    Responder,
    parse_rules,
    split_prompt,
)
from ansible_collections.fleetauth.ssh.plugins.plugin_utils._kbdint.totp import StepGuard, TotpGenerator


def responder(**kwargs):
    kwargs.setdefault("password", PASSWORD)
    return Responder(**kwargs)


def current_code(secret=TOTP_SECRET):
    return pyotp.TOTP(secret).now()


# ----------------------------------------------------------------- defaults

LOGIN_PROMPTS = ["Password: ", "password:", "Password:", "mfa@kbd-dev-1's password: ", "PASSWORD: "]
NOT_LOGIN_PROMPTS = [
    "New password: ",
    "Retype new password: ",
    "Current password: ",
    "(current) UNIX password: ",
    "One-time password (OATH) for `mfa': ",
    "Password & verification code: ",
    "Enter your bank PIN: ",
    "Enter your email password: ",
    "Passcode or option (1-3): ",
    "Password for root@example.com: ",
    "Verification code: ",
    "",
]


@pytest.mark.parametrize("prompt", LOGIN_PROMPTS)
def test_default_rules_send_the_password_only_to_a_plain_login_prompt(prompt):
    assert responder().answer("", "", [(prompt, False)]) == [PASSWORD]


@pytest.mark.parametrize("prompt", NOT_LOGIN_PROMPTS)
def test_default_rules_refuse_everything_else_without_a_totp_secret(prompt):
    with pytest.raises(PromptRefused) as caught:
        responder().answer("", "", [(prompt, False)])
    message = str(caught.value)
    assert "round 1" in message
    assert "nothing was sent" in message
    assert PASSWORD not in message


@pytest.mark.parametrize(
    "prompt",
    ["Verification code: ", "One-time password (OATH) for `mfa': ", "Enter your OTP code:", "verification code:", "Authenticator code: "],
)
def test_default_totp_rule_answers_a_code_and_never_the_password(prompt):
    answer = responder(totp=TotpGenerator(TOTP_SECRET)).answer("", "", [(prompt, False)])
    assert answer == [current_code()]
    assert answer != [PASSWORD]


@pytest.mark.parametrize("prompt", ["New password: ", "Password & verification code: ", "Enter your bank PIN: ", "Current password: "])
def test_totp_secret_does_not_widen_the_password_defaults(prompt):
    with pytest.raises(PromptRefused):
        responder(totp=TotpGenerator(TOTP_SECRET)).answer("", "", [(prompt, False)])


def test_default_patterns_compile_and_are_anchored():
    assert DEFAULT_PASSWORD_PATTERN.startswith("(?i)^")
    assert DEFAULT_TOTP_PATTERN.endswith("$")


def test_info_glued_before_the_prompt_is_shown_and_the_last_line_matched():
    shown = []
    answer = responder(info=shown.append).answer("", "", [("Your password will expire in 3 days.\nPassword: ", False)])
    assert answer == [PASSWORD]
    assert any("expire in 3 days" in text for text in shown)


def test_glued_text_cannot_smuggle_a_match():
    # The last line decides: "Password:" in the info text does not make a PIN prompt a password prompt.
    with pytest.raises(PromptRefused) as caught:
        responder().answer("", "", [("Password:\nEnter your bank PIN: ", False)])
    assert "Enter your bank PIN:" in str(caught.value)


def test_zero_prompt_round_is_answered_with_an_empty_list_and_its_text_shown():
    shown = []
    assert responder(info=shown.append).answer("", "Authenticated with partial success.", []) == []
    assert any("partial success" in text for text in shown)


def test_a_refusal_anywhere_in_a_round_produces_no_answer_and_consumes_no_code(tmp_path):
    guard = StepGuard(str(tmp_path / "state"))
    r = responder(totp=TotpGenerator(TOTP_SECRET), guard=guard, guard_key="h:22:u")
    with pytest.raises(PromptRefused) as caught:
        r.answer("", "", [("Verification code: ", False), ("Enter your bank PIN: ", False)])
    assert "prompt 2 of 2" in str(caught.value)
    assert guard.last_step("h:22:u") == -1


def test_rounds_are_counted_and_named_in_refusals():
    r = responder()
    assert r.answer("", "", [("Password: ", False)]) == [PASSWORD]
    with pytest.raises(PromptRefused) as caught:
        r.answer("", "", [("Enter your bank PIN: ", False)])
    assert "round 2" in str(caught.value)
    assert "'Enter your bank PIN:'" in str(caught.value)
    r.begin()
    assert r.answer("", "", [("Password: ", False)]) == [PASSWORD]


def test_no_password_configured_refuses_instead_of_sending_nothing():
    with pytest.raises(PromptRefused) as caught:
        Responder().answer("", "", [("Password: ", False)])
    assert "no password is set" in str(caught.value)


def test_endless_rounds_are_cut_off():
    r = responder(rules=[{"prompt": "^Again:", "source": "static", "value": "x", "echo": "any"}])
    with pytest.raises(PromptRefused) as caught:
        for _round in range(50):
            r.answer("", "", [("Again:", True)])
    assert "more than" in str(caught.value)


# ----------------------------------------------------------------- rules


def test_explicit_rules_are_ordered_and_default_rules_are_then_off():
    rules = [
        {"prompt": "^Password:$", "source": "password"},
        {"prompt": "^Verification code:$", "source": "totp"},
    ]
    r = responder(rules=rules, totp=TotpGenerator(TOTP_SECRET))
    assert r.answer("", "", [("Password: ", False)]) == [PASSWORD]
    assert r.answer("", "", [("Verification code: ", False)]) == [current_code()]
    with pytest.raises(PromptRefused) as caught:
        r.answer("", "", [("mfa@host's password: ", False)])
    assert "No responder rule matches" in str(caught.value)


def test_forward_pass_rule_concatenates_password_and_code():
    r = responder(rules=[{"prompt": r"^Password & verification code:$", "source": ["password", "totp"]}], totp=TotpGenerator(TOTP_SECRET))
    assert r.answer("", "", [("Password & verification code: ", False)]) == [PASSWORD + current_code()]


def test_secret_rules_demand_echo_off_by_default():
    with pytest.raises(PromptRefused) as caught:
        responder().answer("", "", [("Password: ", True)])
    assert "echo off" in str(caught.value)
    r = responder(rules=[{"prompt": "^Password:", "source": "password", "echo": "any"}])
    assert r.answer("", "", [("Password: ", True)]) == [PASSWORD]


def test_a_rule_may_demand_echo_on():
    r = responder(rules=[{"prompt": "Passcode or option", "source": "static", "value": "1", "echo": "on"}])
    assert r.answer("", "", [("Passcode or option (1-3): ", True)]) == ["1"]
    with pytest.raises(PromptRefused):
        r.begin()
        r.answer("", "", [("Passcode or option (1-3): ", False)])


def test_duo_menu_by_rule():
    rules = [
        {"prompt": "^Password:$", "source": "password"},
        {"prompt": r"Passcode or option \(1-\d+\):$", "source": "static", "value": "1", "echo": "any", "name": "duo push"},
    ]
    r = responder(rules=rules)
    menu = (
        "Duo two-factor login for mfa\n\nEnter a passcode or select one of the following options:\n\n 1. Duo Push to XXX-XXX-1234\n\nPasscode or option (1-1): "
    )
    assert r.answer("", "", [("Password: ", False)]) == [PASSWORD]
    assert r.answer("", "", [(menu, True)]) == ["1"]


def test_env_source(monkeypatch):
    monkeypatch.setenv("KBDINT_TEST_PIN", "4711-pin")
    r = responder(rules=[{"prompt": "PIN", "source": "env", "value": "KBDINT_TEST_PIN"}])
    assert r.answer("", "", [("PIN: ", False)]) == ["4711-pin"]
    monkeypatch.delenv("KBDINT_TEST_PIN")
    r.begin()
    with pytest.raises(PromptRefused) as caught:
        r.answer("", "", [("PIN: ", False)])
    assert "KBDINT_TEST_PIN is not set" in str(caught.value)


def test_command_source_gets_the_prompt_and_its_output_is_the_answer():
    script = "import os, sys; p = sys.stdin.read(); print('ans:' + p.strip() + ':' + os.environ['FLEETAUTH_KBDINT_ROUND'])"
    redactor = Redactor()
    r = responder(rules=[{"prompt": "Token", "source": "command", "value": [sys.executable, "-c", script]}], redactor=redactor)
    assert r.answer("", "", [("Token: ", False)]) == ["ans:Token::1"]
    assert redactor.redact("x ans:Token::1 y") == "x ******** y"


def test_command_source_failure_shows_the_status_not_the_output():
    script = "import sys; print('leaked-secret-output'); sys.exit(3)"
    r = responder(rules=[{"prompt": "Token", "source": "command", "value": [sys.executable, "-c", script]}])
    with pytest.raises(PromptRefused) as caught:
        r.answer("", "", [("Token: ", False)])
    assert "status 3" in str(caught.value)
    assert "leaked-secret-output" not in str(caught.value)


def test_ask_source_and_ask_all_mode_respect_echo():
    asked = []

    def ask(prompt, echo):
        asked.append((prompt, echo))
        return "typed-%d" % len(asked)

    r = responder(rules=[{"prompt": "^Token", "source": "ask"}], ask=ask)
    assert r.answer("", "", [("Token: ", False)]) == ["typed-1"]
    everyone = responder(mode="ask_all", ask=ask)
    assert everyone.answer("", "", [("Password: ", False), ("Who are you? ", True)]) == ["typed-2", "typed-3"]
    assert asked[1:] == [("Password: ", False), ("Who are you? ", True)]


def test_ask_without_a_terminal_fails_closed():
    def ask(prompt, echo):
        raise RuntimeError("stdin is not interactive")

    with pytest.raises(PromptRefused) as caught:
        responder(mode="ask_all", ask=ask).answer("", "", [("Password: ", False)])
    assert "asking the person at the controller failed" in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("not json", "could not be parsed"),
        ([{"source": "password"}], "'prompt' must be"),
        ([{"prompt": "(", "source": "password"}], "not a valid regular expression"),
        ([{"prompt": "x", "source": "magic"}], "unknown source 'magic'"),
        ([{"prompt": "x", "source": "static"}], "needs a 'value'"),
        ([{"prompt": "x", "source": "password", "value": "oops"}], "'value' is only used"),
        ([{"prompt": "x", "source": ["static", "env"], "value": "v"}], "at most one of"),
        ([{"prompt": "x", "source": ["ask", "password"]}], "cannot be combined"),
        ([{"prompt": "x", "source": "password", "echo": "loud"}], "'echo' must be"),
        ([{"prompt": "x", "source": "password", "colour": "red"}], "unknown key(s) colour"),
        (["x"], "must be a mapping"),
        (42, "must be a list"),
    ],
)
def test_invalid_rules_are_refused_with_an_actionable_message(raw, fragment):
    with pytest.raises(AuthError) as caught:
        parse_rules(raw)
    assert fragment in str(caught.value)


def test_rule_errors_never_quote_a_static_value():
    with pytest.raises(AuthError) as caught:
        parse_rules([{"prompt": "x", "source": "password", "value": "s3cr3t-value"}])
    assert "s3cr3t-value" not in str(caught.value)


def test_rules_as_json_text():
    rules = parse_rules('[{"prompt": "^PIN:", "source": "static", "value": "1234"}]')
    assert rules[0].sources == ("static",)
    assert rules[0].echo == "any"


def test_split_prompt():
    assert split_prompt("a\nb\nPassword: \n") == ("a\nb", "Password:")
    assert split_prompt("Password: ") == ("", "Password:")


# ----------------------------------------------------------------- secrets stay secret


def test_everything_sent_is_registered_with_the_redactor():
    redactor = Redactor()
    r = responder(totp=TotpGenerator(TOTP_SECRET), redactor=redactor)
    code = r.answer("", "", [("Verification code: ", False)])[0]
    text = "password=%s secret=%s code=%s" % (PASSWORD, TOTP_SECRET, code)
    masked = redactor.redact(text)
    assert PASSWORD not in masked
    assert TOTP_SECRET not in masked
    assert code not in masked


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=0, max_size=80), st.booleans())
def test_no_secret_ever_appears_in_a_refusal(prompt, echo):
    r = responder(totp=TotpGenerator(TOTP_SECRET))
    try:
        answers = r.answer("", "", [(prompt, echo)])
    except PromptRefused as exc:
        message = str(exc)
        assert PASSWORD not in message
        assert TOTP_SECRET not in message
        assert current_code() not in message or current_code() in prompt
        return
    # When it answers, the prompt was a plain login or code prompt with echo off.
    assert not echo
    assert answers in ([PASSWORD], [current_code()], [pyotp.TOTP(TOTP_SECRET).at(time.time() - 1)])


def test_a_second_code_in_one_login_is_refused():
    r = responder(totp=TotpGenerator(TOTP_SECRET))
    assert r.answer("", "", [("Verification code: ", False)]) == [current_code()]
    with pytest.raises(PromptRefused) as caught:
        r.answer("", "", [("Verification code: ", False)])
    assert "already sent" in str(caught.value)
    r.begin()  # a new login may get a code again
    assert r.answer("", "", [("Verification code: ", False)]) == [current_code()]


def test_a_flood_of_prompts_is_refused():
    with pytest.raises(PromptRefused) as caught:
        responder().answer("", "", [("Password: ", False)] * 50)
    assert "50 prompts" in str(caught.value)
