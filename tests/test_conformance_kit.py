"""The conformance kit: the reference adapter passes it, broken adapters fail the right tests.

Broken adapters are small subclasses of the gemeentebelastingen adapter, each breaking
one rule; the kit runs against each of them in a throwaway pytest session (pytester),
and the test asserts which of the kit's tests fail, and why.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from skn_gemeentebelastingen.adapter import GemeentebelastingenAdapter

from skn_connector.adapters.api import (
    AdapterError,
    Arrangement,
    BackOfficeRejected,
    BackOfficeUnavailable,
    Capability,
    CheckResult,
    Claim,
    Debtor,
    DebtorQuery,
    Hold,
    HoldResult,
    Proposal,
    ProposalAssessment,
    SampleBackOffice,
    WriteOff,
    WriteOffResult,
)
from skn_connector.adapters.registry import load_adapter, resolve_adapter_class
from skn_connector.adapters.sqlite import locked_copy
from skn_connector.adapters.testing import (
    AdapterConformance,
    AdapterHarness,
    claim_problems,
    elfproef,
    exception_texts,
    find_personal_data,
    synthetic_bsn,
)
from skn_connector.scaffold import package_name, write_adapter_skeleton

pytest_plugins = ["pytester"]

log = logging.getLogger("broken_adapters")


def _database(sample: SampleBackOffice) -> Path:
    return Path(str(sample.options["database_url"]).removeprefix("sqlite:///"))


class GemeentebelastingenKit(AdapterConformance):
    """The kit with the SQLite outage hooks; the broken adapters below reuse it."""

    #: the sample is made once and copied for each test (the sample hook; keeps this fast)
    _template: ClassVar[dict[str, tuple[Path, SampleBackOffice]]] = {}

    def sample(self, tmp_path: Path) -> SampleBackOffice:
        made = self._template.get("sample")
        if made is None or not _database(made[1]).exists():
            made = (tmp_path, GemeentebelastingenAdapter.create_sample(tmp_path / "template"))
            self._template["sample"] = made
        copy = tmp_path / "gemeentebelastingen.db"
        shutil.copyfile(_database(made[1]), copy)
        return made[1].model_copy(update={"options": {"database_url": f"sqlite:///{copy}"}})

    def unreachable_options(self, sample: SampleBackOffice, tmp_path: Path) -> dict[str, Any]:
        return {**sample.options, "database_url": f"sqlite:///{tmp_path / 'gone' / 'x.db'}"}

    def slow_options(self, sample: SampleBackOffice, tmp_path: Path) -> Iterator[dict[str, Any]]:
        # the sample is in WAL mode: lock a copy, which keeps readers out too
        with locked_copy(_database(sample), tmp_path) as copy:
            yield {**sample.options, "database_url": f"sqlite:///{copy}", "timeout_seconds": 0.05}


class TestGemeentebelastingenConformance(GemeentebelastingenKit):
    """The reference adapter passes the kit (given as the class itself)."""

    adapter = GemeentebelastingenAdapter


# -- broken adapters: each breaks one rule ----------------------------------------------------


class HoldsNotIdempotent(GemeentebelastingenAdapter):
    """Applies every call as a new hold."""

    name = "broken-holds-not-idempotent"

    def apply_hold(self, hold: Hold) -> HoldResult:
        result = super().apply_hold(hold.model_copy(update={"hold_id": uuid.uuid4()}))
        return result.model_copy(update={"hold_id": hold.hold_id})


class HoldsEveryClaim(GemeentebelastingenAdapter):
    """Ignores the factuurnummers of a hold."""

    name = "broken-holds-every-claim"

    def apply_hold(self, hold: Hold) -> HoldResult:
        return super().apply_hold(hold.model_copy(update={"factuurnummers": ()}))


class ReleaseForgets(GemeentebelastingenAdapter):
    """Says it released, but the measures stay suspended."""

    name = "broken-release-forgets"

    def release_hold(self, hold: Hold) -> HoldResult:
        return HoldResult(hold_id=hold.hold_id, applied=True, detail="released")


class BatchDropsAHold(GemeentebelastingenAdapter):
    """Its batches forget the last hold, and say they carried it out."""

    name = "broken-batch-drops-a-hold"

    def apply_holds(self, holds: Sequence[Hold]) -> list[HoldResult | AdapterError]:
        if not holds:
            return []
        done = super().apply_holds(holds[:-1])
        return [*done, HoldResult(hold_id=holds[-1].hold_id, applied=True, detail="applied")]

    def release_holds(self, holds: Sequence[Hold]) -> list[HoldResult | AdapterError]:
        if not holds:
            return []
        done = super().release_holds(holds[:-1])
        return [*done, HoldResult(hold_id=holds[-1].hold_id, applied=True, detail="released")]


class BatchRaises(GemeentebelastingenAdapter):
    """Its batches stop at the first hold that fails and raise its error."""

    name = "broken-batch-raises"

    def apply_holds(self, holds: Sequence[Hold]) -> list[HoldResult | AdapterError]:
        return [self.apply_hold(hold) for hold in holds]


class LogsTheBsn(GemeentebelastingenAdapter):
    """Logs the BSN it looks up."""

    name = "broken-logs-the-bsn"

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        log.debug("looking up bsn %s", query.bsn)
        return super().find_debtor(query)


class RaisesBareErrors(GemeentebelastingenAdapter):
    """Lets a bare RuntimeError out when the back-office is down."""

    name = "broken-raises-bare-errors"

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        try:
            return super().find_debtor(query)
        except BackOfficeUnavailable:
            raise RuntimeError("database down") from None


class LeaksInErrors(GemeentebelastingenAdapter):
    """Puts the surname it looked for into an error message."""

    name = "broken-leaks-in-errors"

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        try:
            return super().find_debtor(query)
        except BackOfficeUnavailable:
            raise BackOfficeUnavailable(f"down while looking for {query.achternaam}") from None


class OpenstaandInconsistent(GemeentebelastingenAdapter):
    """Reports an openstaand one euro above hoofdsom + rente + kosten."""

    name = "broken-openstaand"

    def list_claims(self, debtor: Debtor) -> list[Claim]:
        return [
            c.model_copy(update={"openstaand": c.openstaand + 1})
            for c in super().list_claims(debtor)
        ]


class FindsAnyone(GemeentebelastingenAdapter):
    """Guesses: whoever it cannot find is debtor 1."""

    name = "broken-finds-anyone"

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        return super().find_debtor(query) or Debtor(debtor_id="1", klantnummer_se="100001")


class AcceptsAnything(GemeentebelastingenAdapter):
    """Accepts every proposal, even one over invoices it never issued."""

    name = "broken-accepts-anything"

    def assess_proposal(self, debtor: Debtor, proposal: Proposal) -> ProposalAssessment:
        return ProposalAssessment(decision="accept", reason="fine")


class WriteOffTwice(GemeentebelastingenAdapter):
    """Writes off again on every call."""

    name = "broken-write-off-twice"

    def write_off(self, debtor: Debtor, write_off: WriteOff) -> WriteOffResult:
        result = super().write_off(
            debtor, write_off.model_copy(update={"write_off_id": uuid.uuid4()})
        )
        return result.model_copy(update={"write_off_id": write_off.write_off_id})


class RejectsWithoutReason(GemeentebelastingenAdapter):
    """Rejects every proposal without saying why."""

    name = "broken-rejects-without-reason"

    def assess_proposal(self, debtor: Debtor, proposal: Proposal) -> ProposalAssessment:
        return ProposalAssessment(decision="reject")


class ArrangementOnce(GemeentebelastingenAdapter):
    """Refuses an arrangement it has recorded before."""

    name = "broken-arrangement-once"

    def record_arrangement(self, debtor: Debtor, arrangement: Arrangement) -> None:
        seen: set[uuid.UUID] = self.__dict__.setdefault("seen", set())
        if arrangement.conversation_id in seen:
            raise BackOfficeRejected("this arrangement is already recorded")
        seen.add(arrangement.conversation_id)
        super().record_arrangement(debtor, arrangement)


class IgnoresTheBsn(GemeentebelastingenAdapter):
    """Does not look debtors up by BSN."""

    name = "broken-ignores-the-bsn"

    def find_debtor(self, query: DebtorQuery) -> Debtor | None:
        return super().find_debtor(query.model_copy(update={"bsn": None}))


class CheckAlwaysFails(GemeentebelastingenAdapter):
    """Its check() reports a failure even when all is well."""

    name = "broken-check"

    def check(self) -> list[CheckResult]:
        return [CheckResult(aspect="connection", ok=False, message="cannot tell")]


class ClaimsOnly(GemeentebelastingenAdapter):
    """A correct adapter with one capability: the kit collects only what applies."""

    name = "claims-only"
    capabilities = frozenset({Capability.CLAIMS})


# -- running the kit against them -------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Inner pytest sessions load no third-party plugins (each would be imported again)."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")


def _run_kit(
    pytester: pytest.Pytester, adapter: str, tests: list[str] | None = None, body: str = ""
) -> dict[str, tuple[str, str]]:
    """Run the kit (or ``tests`` of it) on ``adapter``, a class of this module.

    Returns test name -> (outcome, failure text).
    """
    pytester.makepyfile(
        test_kit=f"from {__name__} import GemeentebelastingenKit\n\n\n"
        f"class TestKit(GemeentebelastingenKit):\n"
        f'    adapter = "{__name__}:{adapter}"\n{body}'
    )
    selected = [f"test_kit.py::TestKit::{name}" for name in tests or ()] or ["test_kit.py"]
    recorder = pytester.inline_run("-p", "no:cacheprovider", *selected)
    outcomes: dict[str, tuple[str, str]] = {}
    for report in recorder.getreports("pytest_runtest_logreport"):
        name = report.nodeid.rsplit("::", 1)[-1]
        if report.when == "call" or report.outcome != "passed":
            outcomes[name] = (report.outcome, str(report.longrepr or ""))
    for collected in recorder.getreports("pytest_collectreport"):
        assert collected.passed, collected.longrepr
    return outcomes


def _failed(outcomes: dict[str, tuple[str, str]]) -> set[str]:
    return {name for name, (outcome, _) in outcomes.items() if outcome == "failed"}


HOLD_TESTS = [
    "test_apply_hold_twice_changes_nothing",
    "test_release_restores_measures_and_twice_is_harmless",
    "test_release_of_an_unknown_hold_is_harmless",
    "test_hold_on_named_factuurnummers_leaves_other_claims_alone",
    "test_overlapping_holds_keep_measures_held",
]
BATCH_TESTS = [
    "test_batch_holds_match_the_single_calls",
    "test_batch_holds_are_idempotent",
    "test_a_bad_hold_does_not_stop_the_batch",
]
UNREACHABLE = "test_unreachable_backoffice_raises_unavailable"
SLOW = "test_slow_backoffice_raises_timeout"
PRIVACY = "test_no_personal_data_in_logs"

BROKEN = [
    # adapter, the kit tests run, those that must fail, a phrase of the failure
    (
        "HoldsNotIdempotent",
        HOLD_TESTS,
        # a release by the hold id finds nothing to release either
        {
            "test_apply_hold_twice_changes_nothing",
            "test_release_restores_measures_and_twice_is_harmless",
            "test_overlapping_holds_keep_measures_held",
        },
        "applied twice, the results differ",
    ),
    (
        "HoldsEveryClaim",
        HOLD_TESTS,
        {"test_hold_on_named_factuurnummers_leaves_other_claims_alone"},
        "changed the measures of",
    ),
    (
        "ReleaseForgets",
        HOLD_TESTS,
        {
            "test_release_restores_measures_and_twice_is_harmless",
            "test_overlapping_holds_keep_measures_held",
        },
        "the measures are not restored",
    ),
    ("BatchDropsAHold", BATCH_TESTS, set(BATCH_TESTS), "did the batch drop a hold?"),
    (
        "BatchRaises",
        [*BATCH_TESTS, "test_apply_hold_twice_changes_nothing"],
        {"test_a_bad_hold_does_not_stop_the_batch"},
        "apply_holds() raised BackOfficeRejected for a batch with one bad hold",
    ),
    # the outage tests watch the logs too
    ("LogsTheBsn", [PRIVACY, UNREACHABLE], {PRIVACY, UNREACHABLE}, "reached a log record"),
    (
        "RaisesBareErrors",
        [UNREACHABLE, SLOW],
        {UNREACHABLE, SLOW},
        "find_debtor() raised a bare RuntimeError",
    ),
    ("LeaksInErrors", [UNREACHABLE, PRIVACY], {UNREACHABLE}, "reached an exception"),
    (
        "OpenstaandInconsistent",
        ["test_claims_are_consistent", "test_finds_sample_debtors_by_bsn"],
        {"test_claims_are_consistent"},
        "is not hoofdsom + rente + kosten",
    ),
    (
        "FindsAnyone",
        [
            "test_unknown_person_is_not_found",
            "test_unknown_factuurnummer_finds_nobody",
            "test_finds_sample_debtors_by_klantnummer",
        ],
        {"test_unknown_person_is_not_found", "test_unknown_factuurnummer_finds_nobody"},
        "was found as debtor 1",
    ),
    (
        "AcceptsAnything",
        [
            "test_assess_proposal_gives_a_valid_assessment",
            "test_unknown_factuurnummer_in_a_proposal_is_never_accepted",
        ],
        {"test_unknown_factuurnummer_in_a_proposal_is_never_accepted"},
        "was accepted",
    ),
    (
        "WriteOffTwice",
        [
            "test_write_off_twice_gives_the_same_result",
            "test_record_arrangement_twice_is_idempotent",
        ],
        {"test_write_off_twice_gives_the_same_result"},
        "written off twice, the results differ",
    ),
    (
        "RejectsWithoutReason",
        ["test_assess_proposal_gives_a_valid_assessment"],
        {"test_assess_proposal_gives_a_valid_assessment"},
        "reject without a reason",
    ),
    (
        "ArrangementOnce",
        ["test_record_arrangement_twice_is_idempotent"],
        {"test_record_arrangement_twice_is_idempotent"},
        "already recorded",
    ),
    (
        "IgnoresTheBsn",
        ["test_finds_sample_debtors_by_bsn", "test_finds_sample_debtors_by_klantnummer"],
        {"test_finds_sample_debtors_by_bsn"},
        "is not found by BSN",
    ),
    (
        "CheckAlwaysFails",
        ["test_check_is_ok_on_the_sample", "test_loads_through_the_registry"],
        {"test_check_is_ok_on_the_sample"},
        "check() fails on the sample back-office: connection: cannot tell",
    ),
]


@pytest.mark.parametrize(
    ("adapter", "tests", "must_fail", "phrase"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_the_kit_catches_a_broken_adapter(
    pytester: pytest.Pytester, adapter: str, tests: list[str], must_fail: set[str], phrase: str
) -> None:
    outcomes = _run_kit(pytester, adapter, tests)
    assert set(outcomes) == set(tests), outcomes
    assert _failed(outcomes) == must_fail, outcomes  # the broken rule, and only that one
    assert any(phrase in outcomes[name][1] for name in must_fail), [
        outcomes[name][1][-600:] for name in must_fail
    ]


def test_only_the_declared_capabilities_are_collected(pytester: pytest.Pytester) -> None:
    outcomes = _run_kit(pytester, "ClaimsOnly")
    assert not any("hold" in name or "proposal" in name for name in outcomes), sorted(outcomes)
    assert not any("arrangement" in name or "write_off" in name for name in outcomes)
    assert "test_claims_are_consistent" in outcomes
    assert {outcome for outcome, _ in outcomes.values()} == {"passed"}, outcomes


def test_missing_outage_hooks_fail_with_a_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_no_hooks=f"from skn_connector.adapters.testing import AdapterConformance\n\n\n"
        f"class TestNoHooks(AdapterConformance):\n"
        f'    adapter = "{__name__}:ClaimsOnly"\n'
    )
    recorder = pytester.inline_run("-p", "no:cacheprovider", "-k", "unreachable or slow")
    failed = {r.nodeid.rsplit("::", 1)[-1]: str(r.longrepr) for r in recorder.getfailures()}
    assert set(failed) == {
        "test_unreachable_backoffice_raises_unavailable",
        "test_slow_backoffice_raises_timeout",
    }
    assert "does not implement unreachable_options(sample, tmp_path)" in "".join(failed.values())
    assert "does not implement slow_options(sample, tmp_path)" in "".join(failed.values())


def test_opting_out_of_outage_simulation_is_an_explicit_skip(pytester: pytest.Pytester) -> None:
    reason = "    supports_outage_simulation = False\n"
    pytester.makepyfile(
        test_opt_out=f"from skn_connector.adapters.testing import AdapterConformance\n\n\n"
        f"class TestWithReason(AdapterConformance):\n"
        f'    adapter = "{__name__}:ClaimsOnly"\n{reason}'
        f'    outage_simulation_reason = "the vendor API has no test mode"\n\n\n'
        f"class TestWithoutReason(AdapterConformance):\n"
        f'    adapter = "{__name__}:ClaimsOnly"\n{reason}'
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "unreachable or slow", "-rs")
    result.assert_outcomes(skipped=2, failed=2)
    result.stdout.fnmatch_lines(["*outage simulation not supported: the vendor API has no test*"])
    result.stdout.fnmatch_lines(["*without a reason*"])


def test_an_adapter_that_does_not_load_fails_every_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_missing="from skn_connector.adapters.testing import AdapterConformance\n\n\n"
        "class TestMissing(AdapterConformance):\n"
        '    adapter = "no-such-adapter"\n'
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-k", "registry or sample_is")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*not an installed adapter*"])


def test_options_that_accept_anything_are_caught(pytester: pytest.Pytester) -> None:
    body = (
        "\n    def bad_options(self, sample):\n"
        '        return [{**sample.options, "timeout_seconds": "soon"}]\n'
    )
    bad = ["test_bad_options_are_refused"]
    outcomes = _run_kit(pytester, "ClaimsOnly", bad, body=body)
    assert outcomes["test_bad_options_are_refused"][0] == "passed"
    body = "\n    def bad_options(self, sample):\n        return [sample.options]\n"
    outcomes = _run_kit(pytester, "ClaimsOnly", bad, body=body)
    assert outcomes["test_bad_options_are_refused"][0] == "failed"


# -- the pieces -------------------------------------------------------------------------------


def test_helpers() -> None:
    assert elfproef("999990019") and not elfproef("999990018") and not elfproef("12345678")
    assert elfproef(synthetic_bsn()) and synthetic_bsn() != synthetic_bsn([synthetic_bsn()])
    fields: dict[str, Any] = {
        "factuurnummer": "F-1",
        "originele_vordering": 1.0,
        "hoofdsom": -1,
        "rente": Decimal("0"),
        "kosten": Decimal("0"),
        "openstaand": Decimal("0"),
        "status": "kwijt",
        "measures": frozenset(),
    }
    assert claim_problems(Claim.model_construct(**fields)) == [
        "claim F-1: originele_vordering is a float, not a Decimal",
        "claim F-1: hoofdsom is a int, not a Decimal",
    ]
    fields.update(originele_vordering=Decimal("1.005"), hoofdsom=Decimal("-1.00"))
    assert claim_problems(Claim.model_construct(**fields)) == [
        "claim F-1: originele_vordering 1.005 has more than 2 decimals"
    ]
    fields.update(originele_vordering=Decimal("1"))
    assert claim_problems(Claim.model_construct(**fields)) == [
        "claim F-1: hoofdsom -1.00 is negative",
        "claim F-1: openstaand 0 is not hoofdsom + rente + kosten (-1.00 + 0 + 0)",
        "claim F-1: status 'kwijt' is not one of open, overgedragen, betwist",
    ]
    assert claim_problems("not a claim") == ["list_claims returned a str, not a Claim"]
    try:
        try:
            raise ValueError("row for Jansen-Voorbeeld")
        except ValueError:
            raise BackOfficeUnavailable("down") from None
    except BackOfficeUnavailable as exc:
        assert not any("Jansen" in t for t in exception_texts(exc))  # suppressed context
        exc.__suppress_context__ = False
        assert any("Jansen" in t for t in exception_texts(exc))


def test_harness_for_an_authors_own_tests(tmp_path: Path) -> None:
    with AdapterHarness.create("gemeentebelastingen", tmp_path) as harness:
        assert harness.capabilities >= {Capability.CLAIMS, Capability.HOLDS}
        first = harness.known_debtors()[0]
        assert find_personal_data([f"bsn {first.sample.person.bsn}"], harness.sample)
        assert find_personal_data([first.sample.person.achternaam.upper()], harness.sample)
        assert not find_personal_data([f"debtor {first.debtor.debtor_id}"], harness.sample)
        assert set(harness.calls()) >= {"find_debtor", "list_claims", "apply_hold"}


def test_the_plugin_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["skn_connector.adapters.testing"]\n')
    pytester.makepyfile(
        test_fixture="def test_it(skn_adapter_harness):\n"
        '    harness = skn_adapter_harness("gemeentebelastingen")\n'
        "    assert harness.known_debtors()\n"
    )
    pytester.inline_run("-p", "no:cacheprovider").assertoutcome(passed=1)


# -- the scaffold -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["My-Office", "1office", "my office", "my--office", "", "my.x"])
def test_the_scaffold_refuses_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="is not valid"):
        write_adapter_skeleton(name, tmp_path)
    assert not any(tmp_path.iterdir())


def test_the_scaffold_refuses_an_existing_directory(tmp_path: Path) -> None:
    (tmp_path / "my-office").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        write_adapter_skeleton("my-office", tmp_path)


def test_a_generated_skeleton_passes_the_kit(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = write_adapter_skeleton("voorbeeld_office-2", tmp_path)
    root = tmp_path / "voorbeeld_office-2"
    package = package_name("voorbeeld_office-2")
    assert package == "skn_voorbeeld_office_2"
    assert {p.relative_to(root).as_posix() for p in written} == {
        "pyproject.toml",
        "README.md",
        f"{package}/__init__.py",
        f"{package}/py.typed",
        f"{package}/adapter.py",
        "tests/test_conformance.py",
    }
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points."skn_connector.adapters"]' in pyproject
    assert f'voorbeeld_office-2 = "{package}.adapter:VoorbeeldOffice2Adapter"' in pyproject

    # loaded by import path, as the connector would before the plugin is installed
    monkeypatch.syspath_prepend(str(root))
    try:
        cls = resolve_adapter_class(f"{package}.adapter:VoorbeeldOffice2Adapter")
        sample = cls.create_sample(tmp_path / "sample")
        loaded = load_adapter(
            "office", f"{package}.adapter:VoorbeeldOffice2Adapter", sample.options
        )
        assert loaded.capabilities == {Capability.CLAIMS, Capability.HOLDS}
        assert all(r.ok for r in loaded.adapter.check())
        loaded.adapter.close()
    finally:
        for module in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
            del sys.modules[module]

    # the generated tests, run as the author would run them (in their own process)
    result = pytester.runpytest_subprocess(str(root / "tests"), "-p", "no:cacheprovider", "-q")
    outcomes = result.parseoutcomes()
    assert result.ret == 0 and set(outcomes) == {"passed"}, result.stdout.str()
    assert outcomes["passed"] >= 19  # the kit's tests for CLAIMS and HOLDS, none skipped

    # and the generated code is clean for ruff under its own configuration
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.exists():
        for command in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
            done = subprocess.run([str(ruff), *command], cwd=root, capture_output=True, text=True)
            assert done.returncode == 0, done.stdout + done.stderr
