"""The adapter conformance kit: the suite every adapter must pass, as a pytest plugin.

A plugin author gets the suite by subclassing :class:`AdapterConformance` in a test
module and naming the adapter::

    from skn_connector.adapters.testing import AdapterConformance

    class TestMyAdapter(AdapterConformance):
        adapter = "my_backoffice"      # entry-point name, "pkg.mod:Class", or the class

        def unreachable_options(self, sample, tmp_path):
            return {**sample.options, "base_url": "http://127.0.0.1:9"}

        def slow_options(self, sample, tmp_path):
            ...                        # a dict, or a generator that yields one (cleanup after)

The kit runs against the adapter's sample back-office (``create_sample``) and only
collects the tests of the capabilities the adapter declares: a test of a capability
the adapter does not have is not part of its suite (it is removed from the subclass
when the class is created), so the report lists exactly what was checked.

The one allowed skip is explicit: an adapter whose back-office cannot be made
unreachable or slow in a test sets ``supports_outage_simulation = False`` and
``outage_simulation_reason``; the two outage tests then report that reason as
their skip. Leaving the hooks out without saying so fails those tests.

:class:`AdapterHarness` and the functions of this module are the kit's pieces, for an
author's own tests; the plugin fixture ``skn_adapter_harness`` builds harnesses
(registered when this module is loaded as a pytest plugin, e.g. by the
``pytest11`` entry point or ``pytest_plugins = ["skn_connector.adapters.testing"]``
in a root conftest.py).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest
from pydantic import ValidationError

from skn_connector.adapters.api import (
    CAPABILITY_CALLS,
    AdapterError,
    Arrangement,
    BackOfficeUnavailable,
    BaseAdapter,
    Capability,
    CheckResult,
    Claim,
    Debtor,
    DebtorQuery,
    Hold,
    HoldResult,
    MeasureCode,
    Proposal,
    ProposalAssessment,
    ProposalClaim,
    SampleBackOffice,
    SampleDebtor,
    WriteOff,
    WriteOffResult,
)
from skn_connector.adapters.registry import (
    AdapterLoadError,
    load_adapter,
    resolve_adapter_class,
)

__all__ = [
    "AdapterConformance",
    "AdapterHarness",
    "AdapterSpec",
    "CallOutcome",
    "KnownDebtor",
    "adapter_use",
    "all_measures",
    "assert_no_personal_data",
    "batch_problems",
    "claim_problems",
    "declared_capabilities",
    "elfproef",
    "exception_texts",
    "find_personal_data",
    "full_query",
    "log_texts",
    "make_hold",
    "personal_data",
    "proposal_from_claims",
    "resolve_adapter",
    "run_with_deadline",
    "skn_adapter_harness",
    "synthetic_bsn",
    "unknown_person_query",
]

#: How a test names the adapter: an entry-point name, ``"package.module:ClassName"``, or the class.
AdapterSpec = str | type[BaseAdapter]

#: The config name the kit loads the adapter under (it appears in load error messages).
CONFIG_NAME = "conformance"

_CENT = Decimal("0.01")
_STATUSES = ("open", "overgedragen", "betwist")


# -- finding the adapter ------------------------------------------------------------------------


def adapter_use(adapter: AdapterSpec) -> str:
    """The ``use`` value that names ``adapter`` in a config: the string, or the class's import path.

    A class must be importable as ``module:QualName`` (defined at module level), because
    that is how the connector would load it.
    """
    if isinstance(adapter, str):
        return adapter.strip()
    if isinstance(adapter, type):
        if "<locals>" in adapter.__qualname__:
            raise AdapterLoadError(
                f"The adapter class {adapter.__qualname__} is defined inside a function, so the "
                "connector cannot import it; define it at module level."
            )
        return f"{adapter.__module__}:{adapter.__qualname__}"
    raise TypeError("adapter must be an entry-point name, an import path or an adapter class")


def resolve_adapter(adapter: AdapterSpec) -> type[BaseAdapter]:
    """The adapter class, found the way the connector finds it (raises ``AdapterLoadError``)."""
    cls = resolve_adapter_class(adapter_use(adapter), adapter_name=CONFIG_NAME)
    if isinstance(adapter, type) and cls is not adapter:
        raise AdapterLoadError(
            f'The import path "{adapter_use(adapter)}" names another class than the adapter '
            "class given to the kit; give the kit the class the connector would load."
        )
    return cls


def declared_capabilities(cls: type[BaseAdapter]) -> frozenset[Capability]:
    """The known capabilities ``cls`` declares (members or their string values)."""
    found: set[Capability] = set()
    for item in getattr(cls, "capabilities", ()) or ():
        try:
            found.add(Capability(str(item).strip().lower()))
        except ValueError:
            continue
    return frozenset(found)


# -- building requests --------------------------------------------------------------------------


def elfproef(bsn: str) -> bool:
    """True when ``bsn`` is nine digits that pass the BSN elfproef."""
    if len(bsn) != 9 or not bsn.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(bsn[:8], range(9, 1, -1), strict=True))
    return (total - int(bsn[8])) % 11 == 0


def synthetic_bsn(exclude: Iterable[str | None] = ()) -> str:
    """The highest number of the 99999xxxx test range that passes the elfproef and is not excluded.

    Sample back-offices that count their BSNs up from 999990019 never reach it.
    """
    taken = {b for b in exclude if b}
    for n in range(999, -1, -1):
        stem = f"99999{n:03d}"
        check = sum(int(d) * w for d, w in zip(stem, range(9, 1, -1), strict=True)) % 11
        if check < 10 and f"{stem}{check}" not in taken:
            return f"{stem}{check}"
    raise ValueError("every number of the 99999xxxx test range is taken")


def full_query(debtor: SampleDebtor) -> DebtorQuery:
    """What a complete SKN message says about a sample debtor."""
    return DebtorQuery(
        bsn=debtor.person.bsn,
        klantnummer_se=debtor.klantnummer_se,
        factuurnummers=debtor.factuurnummers,
        achternaam=_surname(debtor.person.voorvoegsel, debtor.person.achternaam),
        geboortedatum=debtor.person.geboortedatum,
        postcode=debtor.postcode,
        huisnummer=debtor.huisnummer,
    )


def unknown_person_query(sample: SampleBackOffice, *, bsn: str | None = None) -> DebtorQuery:
    """A made-up person the sample does not know: a fresh elfproef BSN, name and address."""
    known = [p.bsn for d in sample.debtors for p in (d.person, d.partner) if p is not None]
    return DebtorQuery(
        bsn=bsn or synthetic_bsn(known),
        achternaam="Onbekend-Voorbeeld",
        geboortedatum=date(1971, 1, 1),
        postcode="9999ZZ",
        huisnummer=9999,
    )


def all_measures() -> frozenset[MeasureCode]:
    return frozenset(MeasureCode)


def make_hold(
    debtor_id: str,
    *,
    factuurnummers: Sequence[str] = (),
    measures: Iterable[MeasureCode] | None = None,
    lift: Iterable[MeasureCode] = (),
    hold_id: uuid.UUID | None = None,
    reason: str = "KENNISGEVING",
) -> Hold:
    """A hold as the connector sends it: by default every measure on every claim, for 8 months."""
    today = date.today()
    return Hold(
        hold_id=hold_id or uuid.uuid4(),
        debtor_id=debtor_id,
        factuurnummers=tuple(factuurnummers),
        measures=frozenset(all_measures() if measures is None else measures),
        lift=frozenset(lift),
        reason=reason,
        basis="convenant",
        starts=today,
        ends=today + timedelta(days=243),
        conversation_id=uuid.uuid4(),
    )


def proposal_from_claims(
    claims: Sequence[Claim],
    *,
    extra_factuurnummers: Sequence[str] = (),
    afkooppercentage: Decimal = Decimal("20.00"),
) -> Proposal:
    """A schuldregeling proposal over ``claims`` (plus invented ones), as an SHV would send it."""
    items = [(c.factuurnummer, c.openstaand) for c in claims]
    items += [(f, Decimal("100.00")) for f in extra_factuurnummers]
    return Proposal(
        type_schuldregeling="SK",
        looptijd_maanden=18,
        claims=tuple(
            ProposalClaim(
                factuurnummer=nummer,
                actueel_vorderingsbedrag=bedrag,
                afkooppercentage=afkooppercentage,
                prognose_eindbedrag=(bedrag * afkooppercentage / 100).quantize(_CENT),
            )
            for nummer, bedrag in items
        ),
    )


# -- checking answers ---------------------------------------------------------------------------


def _amount_problem(label: str, value: object) -> str | None:
    if not isinstance(value, Decimal):
        return f"{label} is a {type(value).__name__}, not a Decimal"
    if not value.is_finite():
        return f"{label} is not a finite amount"
    if value != value.quantize(_CENT):
        return f"{label} {value} has more than 2 decimals"
    return None


def claim_problems(claim: object) -> list[str]:
    """What is wrong with one claim from ``list_claims`` (empty when it is consistent)."""
    if not isinstance(claim, Claim):
        return [f"list_claims returned a {type(claim).__name__}, not a Claim"]
    where = f"claim {claim.factuurnummer}"
    problems: list[str] = []
    for field in ("originele_vordering", "hoofdsom", "rente", "kosten", "openstaand"):
        problem = _amount_problem(f"{where}: {field}", getattr(claim, field))
        if problem:
            problems.append(problem)
    if problems:
        return problems
    if claim.hoofdsom < 0:
        problems.append(f"{where}: hoofdsom {claim.hoofdsom} is negative")
    if claim.openstaand != claim.hoofdsom + claim.rente + claim.kosten:
        problems.append(
            f"{where}: openstaand {claim.openstaand} is not hoofdsom + rente + kosten "
            f"({claim.hoofdsom} + {claim.rente} + {claim.kosten})"
        )
    if claim.status not in _STATUSES:
        problems.append(f"{where}: status {claim.status!r} is not one of {', '.join(_STATUSES)}")
    if not all(isinstance(m, MeasureCode) for m in claim.measures):
        problems.append(f"{where}: measures are not all MeasureCode members")
    return problems


def _surname(voorvoegsel: str | None, achternaam: str) -> str:
    return " ".join(f"{voorvoegsel or ''} {achternaam}".split())


def personal_data(sample: SampleBackOffice) -> list[str]:
    """The sample's BSNs, surnames and postcodes (debtors and partners): never in a log or error."""
    found: set[str] = set()
    for debtor in sample.debtors:
        for person in (debtor.person, debtor.partner):
            if person is None:
                continue
            if person.bsn:
                found.add(person.bsn)
            found.add(person.achternaam)
            found.add(_surname(person.voorvoegsel, person.achternaam))
        postcode = "".join(debtor.postcode.split())
        found.add(postcode)
        if len(postcode) == 6:
            found.add(f"{postcode[:4]} {postcode[4:]}")
    return sorted(item for item in found if len(item) >= 4)


def find_personal_data(texts: Iterable[str], sample: SampleBackOffice) -> list[tuple[str, str]]:
    """(which sample value, in which text) for every text holding a sample BSN, surname or postcode.

    Names and postcodes are compared case-insensitively.
    """
    secrets = personal_data(sample)
    hits: list[tuple[str, str]] = []
    for text in texts:
        folded = text.casefold()
        for secret in secrets:
            if secret.casefold() in folded:
                hits.append((secret, text))
    return hits


def assert_no_personal_data(texts: Iterable[str], sample: SampleBackOffice, where: str) -> None:
    """Fail, naming the first few leaks, when a sample BSN, surname or postcode is in ``texts``."""
    hits = find_personal_data(texts, sample)
    if hits:
        shown = "; ".join(f"{secret!r} in {text[:160]!r}" for secret, text in hits[:5])
        pytest.fail(
            f"personal data of the sample reached {where} ({len(hits)} times): {shown}",
            pytrace=False,
        )


def exception_texts(exc: BaseException) -> list[str]:
    """What the connector may store or log of an exception: str, repr, and the shown chain."""
    texts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current)]
        texts += traceback.format_exception_only(type(current), current)
        if current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None
    return texts


_RECORD_FIELDS = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 1, "x", None, None)))
_RECORD_FIELDS |= {"message", "asctime", "taskName"}


def log_texts(records: Iterable[logging.LogRecord]) -> list[str]:
    """Every text a handler could write of these records: message, traceback, stack and extras."""
    formatter = logging.Formatter()
    texts: list[str] = []
    for record in records:
        texts.append(record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            texts.append(formatter.formatException(record.exc_info))
            texts += exception_texts(record.exc_info[1])
        if record.exc_text:
            texts.append(record.exc_text)
        if record.stack_info:
            texts.append(record.stack_info)
        texts += [str(v) for k, v in vars(record).items() if k not in _RECORD_FIELDS]
    return texts


@dataclass(frozen=True)
class CallOutcome:
    """How one call ended under ``run_with_deadline``."""

    call: str
    finished: bool
    elapsed: float
    result: object = None
    error: BaseException | None = None

    def problem(self, *, deadline: float, expect: type[BaseException]) -> str | None:
        """Why this outcome is not "raised ``expect`` (retryable) within the deadline"; or None."""
        if not self.finished:
            return f"{self.call}() did not return within {deadline:g} s"
        if self.error is None:
            return f"{self.call}() returned {type(self.result).__name__} instead of raising"
        kind = type(self.error).__name__
        if not isinstance(self.error, AdapterError):
            return (
                f"{self.call}() raised a bare {kind}, not an AdapterError "
                f"({expect.__name__} is expected; the connector treats anything else as a bug)"
            )
        if not isinstance(self.error, expect):
            return f"{self.call}() raised {kind}, not {expect.__name__}"
        if not type(self.error).retryable:
            return f"{self.call}() raised {kind} with retryable False"
        return None


def run_with_deadline(call: str, fn: Callable[[], object], deadline: float) -> CallOutcome:
    """Run ``fn`` in a daemon thread; give up waiting after ``deadline`` seconds."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # the kit judges every exception, even SystemExit
            box["error"] = exc

    start = time.monotonic()
    thread = threading.Thread(target=run, name=f"conformance-{call}", daemon=True)
    thread.start()
    thread.join(deadline)
    elapsed = time.monotonic() - start
    if thread.is_alive():
        return CallOutcome(call, finished=False, elapsed=elapsed)
    return CallOutcome(
        call, finished=True, elapsed=elapsed, result=box.get("result"), error=box.get("error")
    )


def batch_problems(call: str, holds: Sequence[Hold], results: object) -> list[str]:
    """What is wrong with the shape of a batch answer: one ``HoldResult`` (with that hold's
    id) or ``AdapterError`` per hold, in order. Empty when the shape is right."""
    if not isinstance(results, list):
        return [f"{call}() returned a {type(results).__name__}, not a list"]
    if len(results) != len(holds):
        return [f"{call}() returned {len(results)} results for {len(holds)} holds"]
    problems: list[str] = []
    for index, (hold, result) in enumerate(zip(holds, results, strict=True)):
        if isinstance(result, AdapterError):
            continue
        if not isinstance(result, HoldResult):
            problems.append(
                f"{call}() result #{index} is a {type(result).__name__}, not a HoldResult or "
                "an AdapterError"
            )
        elif result.hold_id != hold.hold_id:
            problems.append(
                f"{call}() result #{index} is for hold {result.hold_id}, not {hold.hold_id} "
                "(one result per hold, in order)"
            )
    return problems


# -- the harness ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownDebtor:
    """A sample debtor, as the adapter found it (by klantnummer) and the claims it lists."""

    index: int
    sample: SampleDebtor
    debtor: Debtor
    claims: tuple[Claim, ...]

    @property
    def label(self) -> str:
        return f"sample debtor #{self.index} (klantnummer {self.sample.klantnummer_se})"


class AdapterHarness:
    """The adapter under test, its sample back-office, and the pieces the kit's tests share.

    Adapters loaded through :meth:`load` (and :attr:`adapter`) are closed by :meth:`close`.
    """

    def __init__(self, adapter: AdapterSpec, sample: SampleBackOffice) -> None:
        self.use = adapter_use(adapter)
        self.adapter_class = resolve_adapter(adapter)
        self.capabilities = declared_capabilities(self.adapter_class)
        self.sample = sample
        self._loaded: list[BaseAdapter] = []
        self._adapter: BaseAdapter | None = None
        self._known: list[KnownDebtor] | None = None

    @classmethod
    def create(cls, adapter: AdapterSpec, directory: Path) -> AdapterHarness:
        """A harness on a fresh sample back-office made by the adapter's ``create_sample``."""
        adapter_class = resolve_adapter(adapter)
        try:
            sample = adapter_class.create_sample(directory)
        except NotImplementedError:
            pytest.fail(
                f"{adapter_class.__qualname__} has no create_sample(); implement it (a sample "
                "back-office with synthetic debtors) or override sample() in the test class",
                pytrace=False,
            )
        return cls(adapter_class if isinstance(adapter, type) else adapter, sample)

    # -- adapters

    def load(self, options: Mapping[str, Any] | None = None) -> BaseAdapter:
        """Load the adapter through the registry, with the sample's options or ``options``."""
        loaded = load_adapter(
            CONFIG_NAME, self.use, self.sample.options if options is None else options
        )
        self._loaded.append(loaded.adapter)
        return loaded.adapter

    @property
    def adapter(self) -> BaseAdapter:
        """The adapter on the sample back-office (loaded once)."""
        if self._adapter is None:
            self._adapter = self.load()
        return self._adapter

    def close(self) -> None:
        while self._loaded:
            adapter = self._loaded.pop()
            with contextlib.suppress(Exception):
                adapter.close()
        self._adapter = None

    def __enter__(self) -> AdapterHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def require(self, capability: Capability, why: str) -> None:
        if capability not in self.capabilities:
            pytest.fail(
                f"{why}; the adapter does not declare {capability.value}, which the kit "
                "needs for this check",
                pytrace=False,
            )

    # -- the sample, as the adapter sees it

    def known_debtors(self) -> list[KnownDebtor]:
        """Every sample debtor, found by klantnummer, with its claims (CLAIMS)."""
        if self._known is None:
            self.require(Capability.CLAIMS, "the kit finds sample debtors with find_debtor")
            known: list[KnownDebtor] = []
            for index, sd in enumerate(self.sample.debtors):
                found = self.adapter.find_debtor(DebtorQuery(klantnummer_se=sd.klantnummer_se))
                label = f"sample debtor #{index} (klantnummer {sd.klantnummer_se})"
                if not isinstance(found, Debtor):
                    pytest.fail(f"{label} is not found by klantnummer_se", pytrace=False)
                claims = self.adapter.list_claims(found)
                if not isinstance(claims, list):
                    pytest.fail(f"list_claims for {label} did not return a list", pytrace=False)
                known.append(KnownDebtor(index, sd, found, tuple(claims)))
            self._known = known
        return self._known

    def debtor_with_measures(self, *, claims: int = 1) -> KnownDebtor:
        """The first sample debtor with at least ``claims`` claims that have active measures."""
        for kd in self.known_debtors():
            if sum(1 for c in kd.claims if c.measures) >= claims:
                return kd
        pytest.fail(
            f"the sample has no debtor with {claims} claim(s) with active measures; the kit "
            "needs one to check holds: add one to create_sample",
            pytrace=False,
        )

    def measures(
        self, debtor: Debtor, adapter: BaseAdapter | None = None
    ) -> dict[str, frozenset[MeasureCode]]:
        """factuurnummer -> the measures now active on it, as ``list_claims`` says."""
        return {
            c.factuurnummer: frozenset(c.measures)
            for c in (adapter or self.adapter).list_claims(debtor)
        }

    def calls(self) -> dict[str, Callable[[BaseAdapter], object]]:
        """One realistic call for each call of the declared capabilities, by call name.

        The arguments come from the sample (found with the reachable adapter when it has
        CLAIMS), so an adapter pointed elsewhere is asked about a debtor that exists.
        """
        sd = self.sample.debtors[0]
        if Capability.CLAIMS in self.capabilities:
            kd = self.known_debtors()[0]
            debtor, nummers = kd.debtor, [c.factuurnummer for c in kd.claims]
            claims: Sequence[Claim] = kd.claims
        else:
            debtor, nummers, claims = (
                Debtor(debtor_id="1", klantnummer_se=sd.klantnummer_se),
                [],
                (),
            )
        nummers = nummers or list(sd.factuurnummers)
        hold = make_hold(debtor.debtor_id)
        proposal = proposal_from_claims(
            claims, extra_factuurnummers=() if claims else sd.factuurnummers
        )
        arrangement = Arrangement(
            type_schuldregeling=proposal.type_schuldregeling,
            datum_akkoord=date.today(),
            claims=proposal.claims,
            conversation_id=uuid.uuid4(),
        )
        write_off = WriteOff(
            write_off_id=uuid.uuid4(),
            debtor_id=debtor.debtor_id,
            factuurnummers=tuple(nummers),
            reason="SCHULDREGELING_GESLAAGD",
            datum=date.today(),
            conversation_id=uuid.uuid4(),
        )
        query = full_query(sd)
        table: dict[str, Callable[[BaseAdapter], object]] = {
            "find_debtor": lambda a: a.find_debtor(query),
            "list_claims": lambda a: a.list_claims(debtor),
            "apply_hold": lambda a: a.apply_hold(hold),
            "release_hold": lambda a: a.release_hold(hold),
            "assess_proposal": lambda a: a.assess_proposal(debtor, proposal),
            "record_arrangement": lambda a: a.record_arrangement(debtor, arrangement),
            "write_off": lambda a: a.write_off(debtor, write_off),
        }
        return {
            call: table[call]
            for capability in sorted(self.capabilities, key=lambda c: c.value)
            for call in CAPABILITY_CALLS[capability]
        }

    def batch_calls(self) -> dict[str, Callable[[BaseAdapter], object]]:
        """``apply_holds`` and ``release_holds`` of two holds each (HOLDS), by call name."""
        if Capability.HOLDS not in self.capabilities:
            return {}
        if Capability.CLAIMS in self.capabilities:
            debtor_id = self.known_debtors()[0].debtor.debtor_id
        else:
            debtor_id = "1"
        holds = [make_hold(debtor_id), make_hold(debtor_id)]
        return {
            "apply_holds": lambda a: a.apply_holds(holds),
            "release_holds": lambda a: a.release_holds(holds),
        }

    # -- privacy

    def personal_data(self) -> list[str]:
        return personal_data(self.sample)

    def assert_no_personal_data(self, texts: Iterable[str], where: str) -> None:
        assert_no_personal_data(texts, self.sample, where)


# -- the suite --------------------------------------------------------------------------------

_T = TypeVar("_T", bound=Callable[..., None])
#: factuurnummer -> the measures active on it
_Measures = dict[str, frozenset[MeasureCode]]
_REQUIRES = "_skn_conformance_requires"
#: names of the kit's tests -> the capabilities each needs (empty: every adapter)
_KIT_TESTS: dict[str, frozenset[Capability]] = {}


def _requires(*capabilities: Capability) -> Callable[[_T], _T]:
    def mark(func: _T) -> _T:
        setattr(func, _REQUIRES, frozenset(capabilities))
        return func

    return mark


class AdapterConformance:
    """The conformance suite; subclass it as ``Test<Something>`` and set :attr:`adapter`.

    Hooks (override in the subclass):

    - ``sample(tmp_path)``: the sample back-office (default: the adapter's ``create_sample``);
    - ``unreachable_options(sample, tmp_path)``: options under which the back-office cannot
      be reached; every call must raise ``BackOfficeUnavailable``;
    - ``slow_options(sample, tmp_path)``: options under which calls time out; every call
      must raise ``BackOfficeTimeout`` (or ``BackOfficeUnavailable``) within
      :attr:`max_call_seconds`;
    - ``bad_options(sample)``: option tables that must not validate.

    The outage hooks return a dict, or are generators that yield one dict and clean up
    after the test (e.g. release a lock).
    """

    #: the adapter: an entry-point name, "package.module:ClassName", or the class itself
    adapter: ClassVar[AdapterSpec | None] = None
    #: False (with outage_simulation_reason) when the back-office cannot be made unreachable
    #: or slow in a test: the two outage tests are then skipped with that reason
    supports_outage_simulation: ClassVar[bool] = True
    outage_simulation_reason: ClassVar[str] = ""
    #: loggers the privacy test runs at another level than DEBUG: name -> (level, reason).
    #: An explicit exemption for a library whose DEBUG output is data by design, e.g.
    #: {"sqlalchemy.engine": (logging.INFO, "SQLAlchemy logs result rows at DEBUG")}
    privacy_log_levels: ClassVar[Mapping[str, tuple[int, str]]] = {}
    #: the longest one call may take under slow or unreachable options
    max_call_seconds: ClassVar[float] = 10.0
    #: a BSN no debtor of the back-office has (default: derived from the sample)
    unknown_bsn: ClassVar[str | None] = None
    #: an invoice number the back-office never issued
    unknown_factuurnummer: ClassVar[str] = "ONBEKEND-SKN-0000000"
    #: a debtor id the back-office does not know: a hold for it is the bad one in a batch
    unknown_debtor_id: ClassVar[str] = "skn-conformance-unknown-debtor"
    #: the capabilities the suite was collected for (set for each subclass; None: unresolved)
    conformance_capabilities: ClassVar[frozenset[Capability] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared: frozenset[Capability] | None = None
        spec = getattr(cls, "adapter", None)
        if spec is not None:
            # an adapter that cannot be resolved keeps every test: they fail with the reason
            with contextlib.suppress(Exception):
                declared = declared_capabilities(resolve_adapter(spec))
        cls.conformance_capabilities = declared
        gated: set[str] = set()
        for name, needs in _KIT_TESTS.items():
            if declared is not None and not needs <= declared:
                setattr(cls, name, None)  # not collected: the adapter does not promise it
                gated.add(name)
            elif getattr(cls, name, None) is None:
                setattr(cls, name, _inherited_test(cls, name))
        cls._skn_gated = frozenset(gated)

    _skn_gated: ClassVar[frozenset[str]] = frozenset()

    # -- hooks

    def sample(self, tmp_path: Path) -> SampleBackOffice:
        """The sample back-office the suite runs against."""
        cls = self._adapter_class()
        try:
            return cls.create_sample(tmp_path)
        except NotImplementedError:
            pytest.fail(
                f"{cls.__qualname__} has no create_sample(); implement it (a sample back-office "
                "with synthetic debtors) or override sample(tmp_path) in the test class",
                pytrace=False,
            )

    def unreachable_options(
        self, sample: SampleBackOffice, tmp_path: Path
    ) -> Mapping[str, Any] | Iterator[Mapping[str, Any]]:
        """Options under which the back-office cannot be reached (implement in the subclass)."""
        raise NotImplementedError

    def slow_options(
        self, sample: SampleBackOffice, tmp_path: Path
    ) -> Mapping[str, Any] | Iterator[Mapping[str, Any]]:
        """Options under which calls time out (implement in the subclass)."""
        raise NotImplementedError

    def bad_options(self, sample: SampleBackOffice) -> list[dict[str, Any]]:
        """Option tables that must not validate (default: the sample's plus an unknown key)."""
        return [{**sample.options, "skn_conformance_unknown_option": "conformance-bad-value"}]

    # -- fixtures

    def _adapter_class(self) -> type[BaseAdapter]:
        spec = type(self).adapter
        if spec is None:
            pytest.fail(
                f"{type(self).__qualname__} does not name its adapter; set adapter = "
                '"entry-point-name", "package.module:ClassName" or the class',
                pytrace=False,
            )
        return resolve_adapter(spec)

    @pytest.fixture
    def harness(self, tmp_path: Path) -> Iterator[AdapterHarness]:
        """The adapter on a fresh sample back-office (closed after the test)."""
        spec = type(self).adapter
        self._adapter_class()
        assert spec is not None
        directory = tmp_path / "sample"
        directory.mkdir(parents=True, exist_ok=True)
        sample = self.sample(directory)
        with AdapterHarness(spec, sample) as harness:
            yield harness

    @contextlib.contextmanager
    def _outage_options(
        self, hook_name: str, sample: SampleBackOffice, tmp_path: Path
    ) -> Iterator[Mapping[str, Any]]:
        cls = type(self)
        if not cls.supports_outage_simulation:
            reason = cls.outage_simulation_reason.strip()
            if not reason:
                pytest.fail(
                    "supports_outage_simulation is False without a reason; set "
                    "outage_simulation_reason to say why the back-office cannot be made "
                    "unreachable or slow in a test",
                    pytrace=False,
                )
            pytest.skip(f"outage simulation not supported: {reason}")
        hook: Callable[[SampleBackOffice, Path], object] = getattr(self, hook_name)
        if getattr(cls, hook_name) is getattr(AdapterConformance, hook_name):
            what = "cannot be reached" if hook_name == "unreachable_options" else "times out"
            pytest.fail(
                f"{cls.__qualname__} does not implement {hook_name}(sample, tmp_path): return "
                f"adapter options under which the back-office {what} (or set "
                "supports_outage_simulation = False with outage_simulation_reason)",
                pytrace=False,
            )
        produced = hook(sample, tmp_path)
        if isinstance(produced, Mapping):
            yield produced
            return
        if not inspect.isgenerator(produced):
            pytest.fail(
                f"{hook_name}() returned a {type(produced).__name__}; return a dict of options "
                "or yield one",
                pytrace=False,
            )
        try:
            options = next(produced)
        except StopIteration:
            pytest.fail(f"{hook_name}() yielded no options", pytrace=False)
        if not isinstance(options, Mapping):
            produced.close()
            pytest.fail(f"{hook_name}() yielded a {type(options).__name__}, not a dict")
        try:
            yield options
        finally:
            produced.close()

    # -- registry ---------------------------------------------------------------------------

    def test_sample_is_usable(self, harness: AdapterHarness) -> None:
        """create_sample gives options and synthetic debtors with unique klantnummers."""
        sample = harness.sample
        assert isinstance(sample, SampleBackOffice), "the sample is not a SampleBackOffice"
        assert sample.debtors, "the sample back-office has no debtors; the kit needs some"
        klantnummers = [d.klantnummer_se for d in sample.debtors]
        assert len(set(klantnummers)) == len(klantnummers), "sample klantnummers are not unique"
        for index, debtor in enumerate(sample.debtors):
            for person in (debtor.person, debtor.partner):
                if person is not None and person.bsn is not None:
                    assert elfproef(person.bsn), (
                        f"sample debtor #{index} has a BSN that fails the elfproef; compute "
                        "synthetic BSNs in a test range that pass it"
                    )

    def test_loads_through_the_registry(self, harness: AdapterHarness) -> None:
        """load_adapter finds, validates and constructs the adapter with the sample's options."""
        loaded = load_adapter(CONFIG_NAME, harness.use, harness.sample.options)
        try:
            assert isinstance(loaded.adapter, harness.adapter_class), (
                f"load_adapter made a {type(loaded.adapter).__name__}, "
                f"not a {harness.adapter_class.__name__}"
            )
            assert loaded.capabilities == harness.capabilities, (
                f"the registry sees capabilities {sorted(loaded.capabilities)}, the kit "
                f"{sorted(harness.capabilities)}"
            )
            assert type(self).conformance_capabilities == loaded.capabilities, (
                "the suite was collected for other capabilities than the adapter declares"
            )
        finally:
            loaded.adapter.close()

    def test_capability_calls_are_implemented(self, harness: AdapterHarness) -> None:
        """Every call a declared capability promises is overridden from BaseAdapter."""
        missing = [
            f"{call}() ({capability.value})"
            for capability in sorted(harness.capabilities, key=lambda c: c.value)
            for call in CAPABILITY_CALLS[capability]
            if getattr(harness.adapter_class, call, None) is getattr(BaseAdapter, call)
            or not callable(getattr(harness.adapter_class, call, None))
        ]
        assert not missing, f"calls promised but not implemented: {', '.join(missing)}"

    def test_check_is_ok_on_the_sample(self, harness: AdapterHarness) -> None:
        """check() returns CheckResults, all ok, for the sample back-office."""
        results = harness.adapter.check()
        assert isinstance(results, list) and results, "check() returned no list of CheckResults"
        wrong = [r for r in results if not isinstance(r, CheckResult)]
        assert not wrong, f"check() returned {type(wrong[0]).__name__}, not CheckResult"
        failing = [f"{r.aspect}: {r.message}" for r in results if not r.ok]
        assert not failing, f"check() fails on the sample back-office: {'; '.join(failing)}"

    def test_bad_options_are_refused(self, harness: AdapterHarness) -> None:
        """Options that do not validate: a ValidationError, and an AdapterLoadError at load."""
        tables = self.bad_options(harness.sample)
        assert tables, "bad_options() gave no option table"
        for options in tables:
            try:
                harness.adapter_class.Options.model_validate(options)
            except ValidationError:
                pass
            else:
                pytest.fail(
                    f"Options accepted the bad options {sorted(options)}; subclass "
                    "BaseAdapter.Options (it forbids unknown keys) and validate every option",
                    pytrace=False,
                )
            with pytest.raises(AdapterLoadError) as refused:
                load_adapter(CONFIG_NAME, harness.use, options)
            message = str(refused.value)
            assert f"adapters.{CONFIG_NAME}.options" in message, (
                f"the load error does not name the option: {message}"
            )
            bad_values = [
                value
                for key, value in options.items()
                if isinstance(value, str)
                and len(value) >= 4
                and harness.sample.options.get(key) != value
            ]
            for value in bad_values:
                assert value not in message, f"the load error repeats an option value: {message}"

    # -- CLAIMS -----------------------------------------------------------------------------

    @_requires(Capability.CLAIMS)
    def test_finds_sample_debtors_by_bsn(self, harness: AdapterHarness) -> None:
        """Every sample debtor with a BSN is found by it, as the debtor found by klantnummer."""
        for kd in harness.known_debtors():
            if kd.sample.person.bsn is None:
                continue
            found = harness.adapter.find_debtor(DebtorQuery(bsn=kd.sample.person.bsn))
            assert found is not None, f"{kd.label} is not found by BSN"
            assert found.debtor_id == kd.debtor.debtor_id, (
                f"{kd.label}: BSN finds debtor {found.debtor_id}, klantnummer {kd.debtor.debtor_id}"
            )

    @_requires(Capability.CLAIMS)
    def test_finds_sample_debtors_by_klantnummer(self, harness: AdapterHarness) -> None:
        """Every sample debtor is found by klantnummer_se, each as a different debtor."""
        known = harness.known_debtors()
        for kd in known:
            assert isinstance(kd.debtor, Debtor), f"{kd.label}: find_debtor gave no Debtor"
        ids = [kd.debtor.debtor_id for kd in known]
        assert len(set(ids)) == len(ids), f"different sample debtors share a debtor_id: {ids}"

    @_requires(Capability.CLAIMS)
    def test_finds_sample_debtors_by_a_factuurnummer(self, harness: AdapterHarness) -> None:
        """A known factuurnummer finds its debtor; none finds another debtor."""
        for kd in harness.known_debtors():
            hits = 0
            for nummer in kd.sample.factuurnummers:
                found = harness.adapter.find_debtor(DebtorQuery(factuurnummers=(nummer,)))
                if found is None:
                    continue
                assert found.debtor_id == kd.debtor.debtor_id, (
                    f"{kd.label}: factuurnummer {nummer} finds debtor {found.debtor_id}"
                )
                hits += 1
            assert hits, f"{kd.label} is not found by any of its factuurnummers"

    @_requires(Capability.CLAIMS)
    def test_unknown_person_is_not_found(self, harness: AdapterHarness) -> None:
        """A made-up person (elfproef BSN not in the sample, unknown name and address) -> None."""
        query = unknown_person_query(harness.sample, bsn=type(self).unknown_bsn)
        assert query.bsn is not None and elfproef(query.bsn)
        for attempt in (query, DebtorQuery(bsn=query.bsn)):
            found = harness.adapter.find_debtor(attempt)
            assert found is None, f"an unknown person was found as debtor {found.debtor_id}"

    @_requires(Capability.CLAIMS)
    def test_unknown_factuurnummer_finds_nobody(self, harness: AdapterHarness) -> None:
        """An invoice number the back-office never issued does not find anyone."""
        nummer = type(self).unknown_factuurnummer
        found = harness.adapter.find_debtor(DebtorQuery(factuurnummers=(nummer,)))
        assert found is None, f"factuurnummer {nummer} finds debtor {found.debtor_id}"

    @_requires(Capability.CLAIMS)
    def test_claims_are_consistent(self, harness: AdapterHarness) -> None:
        """Claims: Decimal amounts, at most 2 decimals, openstaand = hoofdsom + rente + kosten."""
        problems: list[str] = []
        total = 0
        for kd in harness.known_debtors():
            nummers = [c.factuurnummer for c in kd.claims]
            if len(set(nummers)) != len(nummers):
                problems.append(f"{kd.label}: a factuurnummer is listed twice")
            for claim in kd.claims:
                problems += [f"{kd.label}: {p}" for p in claim_problems(claim)]
            total += len(kd.claims)
        assert total, "no sample debtor has a claim; the kit needs claims to check"
        assert not problems, "inconsistent claims: " + "; ".join(problems[:10])

    # -- HOLDS ------------------------------------------------------------------------------

    @_requires(Capability.HOLDS)
    def test_apply_hold_twice_changes_nothing(self, harness: AdapterHarness) -> None:
        """A second apply_hold with the same hold_id: the same result, the same measures."""
        kd = harness.debtor_with_measures()
        before = harness.measures(kd.debtor)
        hold = make_hold(kd.debtor.debtor_id)
        first = harness.adapter.apply_hold(hold)
        after_first = harness.measures(kd.debtor)
        assert isinstance(first, HoldResult), "apply_hold did not return a HoldResult"
        assert first.hold_id == hold.hold_id, "the HoldResult has another hold_id"
        assert first.applied, f"the hold was not applied: {first.detail}"
        assert after_first != before, (
            f"{kd.label}: a hold of every measure left all active measures in place"
        )
        for nummer, codes in after_first.items():
            assert codes <= before.get(nummer, frozenset()), (
                f"claim {nummer}: the hold started measures {sorted(codes - before[nummer])}"
            )
        second = harness.adapter.apply_hold(hold)
        assert second == first, f"applied twice, the results differ: {first!r} then {second!r}"
        after_second = harness.measures(kd.debtor)
        assert after_second == after_first, "applied twice, the measures changed the second time"

    @_requires(Capability.HOLDS)
    def test_release_restores_measures_and_twice_is_harmless(self, harness: AdapterHarness) -> None:
        """release_hold restores what the hold suspended; releasing again changes nothing."""
        kd = harness.debtor_with_measures()
        before = harness.measures(kd.debtor)
        hold = make_hold(kd.debtor.debtor_id)
        harness.adapter.apply_hold(hold)
        held = harness.measures(kd.debtor)
        released = harness.adapter.release_hold(hold)
        assert isinstance(released, HoldResult), "release_hold did not return a HoldResult"
        assert released.hold_id == hold.hold_id, "the HoldResult has another hold_id"
        assert held != before, f"{kd.label}: the hold suspended nothing"
        after = harness.measures(kd.debtor)
        assert after == before, f"released, the measures are not restored: {before} -> {after}"
        harness.adapter.release_hold(hold)
        assert harness.measures(kd.debtor) == before, "released twice, the measures changed"

    @_requires(Capability.HOLDS)
    def test_release_of_an_unknown_hold_is_harmless(self, harness: AdapterHarness) -> None:
        """Releasing a hold that was never applied is a successful no-op."""
        kd = harness.debtor_with_measures()
        before = harness.measures(kd.debtor)
        result = harness.adapter.release_hold(make_hold(kd.debtor.debtor_id))
        assert isinstance(result, HoldResult), "release_hold did not return a HoldResult"
        assert harness.measures(kd.debtor) == before, "releasing an unknown hold changed measures"

    @_requires(Capability.HOLDS)
    def test_hold_on_named_factuurnummers_leaves_other_claims_alone(
        self, harness: AdapterHarness
    ) -> None:
        """A hold on one claim suspends its measures and leaves the other claims' measures."""
        kd = harness.debtor_with_measures(claims=2)
        target = next(c for c in kd.claims if c.measures)
        before = harness.measures(kd.debtor)
        harness.adapter.apply_hold(
            make_hold(kd.debtor.debtor_id, factuurnummers=[target.factuurnummer])
        )
        after = harness.measures(kd.debtor)
        assert after.get(target.factuurnummer) != before[target.factuurnummer], (
            f"claim {target.factuurnummer}: the hold on it suspended nothing"
        )
        changed = sorted(
            n for n in before if n != target.factuurnummer and after.get(n) != before[n]
        )
        assert not changed, f"a hold on {target.factuurnummer} changed the measures of {changed}"

    @_requires(Capability.HOLDS)
    def test_overlapping_holds_keep_measures_held(self, harness: AdapterHarness) -> None:
        """Two holds on the same measures: releasing one leaves them suspended by the other."""
        kd = harness.debtor_with_measures()
        before = harness.measures(kd.debtor)
        first, second = make_hold(kd.debtor.debtor_id), make_hold(kd.debtor.debtor_id)
        harness.adapter.apply_hold(first)
        held = harness.measures(kd.debtor)
        harness.adapter.apply_hold(second)
        harness.adapter.release_hold(first)
        assert harness.measures(kd.debtor) == held, (
            "releasing one of two holds resumed measures the other still holds"
        )
        harness.adapter.release_hold(second)
        assert harness.measures(kd.debtor) == before, "with both holds released, measures differ"

    # -- HOLDS in a batch -------------------------------------------------------------------

    @_requires(Capability.HOLDS)
    def test_batch_holds_match_the_single_calls(self, harness: AdapterHarness) -> None:
        """apply_holds / release_holds: one result per hold, in order, as the single calls give."""
        known = harness.known_debtors()
        harness.debtor_with_measures()  # the kit needs measures to tell a hold took effect
        adapter = harness.adapter
        singles: list[tuple[_Measures, HoldResult, _Measures, HoldResult]] = []
        for kd in known:  # each debtor's hold alone, and released again
            before = harness.measures(kd.debtor)
            hold = make_hold(kd.debtor.debtor_id)
            applied = adapter.apply_hold(hold)
            held = harness.measures(kd.debtor)
            released = adapter.release_hold(hold)
            assert harness.measures(kd.debtor) == before, (
                f"{kd.label}: release_hold did not restore the measures"
            )
            singles.append((before, applied, held, released))

        holds = [make_hold(kd.debtor.debtor_id) for kd in known]
        results = adapter.apply_holds(holds)
        problems = batch_problems("apply_holds", holds, results)
        assert not problems, "; ".join(problems)
        for kd, result, (_, applied, held, _) in zip(known, results, singles, strict=True):
            after = harness.measures(kd.debtor)
            assert after == held, (
                f"{kd.label}: after apply_holds() the measures are {after}, after apply_hold() "
                f"{held} (did the batch drop a hold?)"
            )
            assert isinstance(result, HoldResult), (
                f"apply_holds() failed for {kd.label}, which apply_hold() applied: {result!r}"
            )
            assert (result.applied, result.measures) == (applied.applied, applied.measures), (
                f"apply_holds() answered {result!r} for {kd.label}; apply_hold() {applied!r}"
            )
        results = adapter.release_holds(holds)
        problems = batch_problems("release_holds", holds, results)
        assert not problems, "; ".join(problems)
        for kd, result, (before, _, _, released) in zip(known, results, singles, strict=True):
            after = harness.measures(kd.debtor)
            assert after == before, (
                f"{kd.label}: after release_holds() the measures are {after}, not {before} as "
                "before the hold (did the batch drop a hold?)"
            )
            assert isinstance(result, HoldResult), (
                f"release_holds() failed for {kd.label}, which release_hold() released: {result!r}"
            )
            assert (result.applied, result.measures) == (released.applied, released.measures), (
                f"release_holds() answered {result!r} for {kd.label}; release_hold() {released!r}"
            )

    @_requires(Capability.HOLDS)
    def test_batch_holds_are_idempotent(self, harness: AdapterHarness) -> None:
        """A batch twice (and a hold twice in one): the same results; the measures change once."""
        known = harness.known_debtors()
        kd = harness.debtor_with_measures()
        adapter = harness.adapter
        before = {k.debtor.debtor_id: harness.measures(k.debtor) for k in known}
        alone = make_hold(kd.debtor.debtor_id)
        single = adapter.apply_hold(alone)
        holds = [alone, *(make_hold(k.debtor.debtor_id) for k in known), alone]
        first = adapter.apply_holds(holds)
        problems = batch_problems("apply_holds", holds, first)
        assert not problems, "; ".join(problems)
        failed = [r for r in first if not isinstance(r, HoldResult)]
        assert not failed, f"apply_holds() failed for a hold: {failed[0]!r}"
        assert first[0] == single and first[-1] == single, (
            f"a hold applied before, in a batch (alone and twice): {first[0]!r} and "
            f"{first[-1]!r}, not {single!r} again"
        )
        held = {k.debtor.debtor_id: harness.measures(k.debtor) for k in known}
        second = adapter.apply_holds(holds)
        assert second == first, f"the same batch twice, the results differ: {first} then {second}"
        again = {k.debtor.debtor_id: harness.measures(k.debtor) for k in known}
        assert again == held, "the same batch twice, the measures changed the second time"

        released = adapter.release_holds(holds)
        problems = batch_problems("release_holds", holds, released)
        assert not problems, "; ".join(problems)
        failed = [r for r in released if not isinstance(r, HoldResult)]
        assert not failed, f"release_holds() failed for a hold: {failed[0]!r}"
        after = {k.debtor.debtor_id: harness.measures(k.debtor) for k in known}
        assert after == before, "released in a batch, the measures are not restored"
        released_again = adapter.release_holds(holds)
        problems = batch_problems("release_holds", holds, released_again)
        assert not problems, "; ".join(problems)
        failed = [r for r in released_again if not isinstance(r, HoldResult)]
        assert not failed, f"release_holds() of released holds failed: {failed[0]!r}"
        assert {k.debtor.debtor_id: harness.measures(k.debtor) for k in known} == before, (
            "released twice in a batch, the measures changed"
        )

    @_requires(Capability.HOLDS)
    def test_a_bad_hold_does_not_stop_the_batch(self, harness: AdapterHarness) -> None:
        """A hold for an unknown debtor amid a batch: an error in its place, the others count."""
        with_measures = [k for k in harness.known_debtors() if any(c.measures for c in k.claims)]
        harness.debtor_with_measures()
        first_kd, last_kd = with_measures[0], with_measures[-1]
        targets = {kd.debtor.debtor_id: kd for kd in (first_kd, last_kd)}
        before = {key: harness.measures(kd.debtor) for key, kd in targets.items()}
        adapter = harness.adapter
        bad = make_hold(type(self).unknown_debtor_id)
        holds = [make_hold(first_kd.debtor.debtor_id), bad, make_hold(last_kd.debtor.debtor_id)]
        for call in ("apply_holds", "release_holds"):
            try:
                results = getattr(adapter, call)(holds)
            except AdapterError as exc:
                pytest.fail(
                    f"{call}() raised {type(exc).__name__} for a batch with one bad hold; put "
                    "the AdapterError in place of that hold and carry out the others",
                    pytrace=False,
                )
            problems = batch_problems(call, holds, results)
            assert not problems, "; ".join(problems)
            refused = results[1]
            if isinstance(refused, AdapterError):
                assert not type(refused).retryable, (
                    f"{call}(): the hold for a debtor the back-office does not know raised "
                    f"{type(refused).__name__}, which is retryable; refuse it "
                    "(BackOfficeRejected): retrying will not help"
                )
            else:
                assert call == "release_holds" or not refused.applied, (
                    f"{call}(): the hold for an unknown debtor was applied: {refused!r}"
                )
            for index in (0, 2):
                assert isinstance(results[index], HoldResult), (
                    f"{call}(): hold #{index} of the batch failed next to a bad hold: "
                    f"{results[index]!r}"
                )
            now = {key: harness.measures(kd.debtor) for key, kd in targets.items()}
            if call == "apply_holds":
                dropped = sorted(targets[key].label for key in targets if now[key] == before[key])
                assert not dropped, (
                    f"apply_holds(): next to a bad hold, the holds of {', '.join(dropped)} "
                    "suspended nothing (the batch stopped at the bad hold, or dropped one)"
                )
            else:
                assert now == before, (
                    "release_holds(): next to a bad hold, the measures are not restored"
                )

    # -- PROPOSALS --------------------------------------------------------------------------

    @_requires(Capability.PROPOSALS)
    def test_assess_proposal_gives_a_valid_assessment(self, harness: AdapterHarness) -> None:
        """A proposal over the debtor's claims: accept, reject or manual; a reason unless accept."""
        harness.require(Capability.CLAIMS, "the kit builds proposals from listed claims")
        assessed = 0
        for kd in harness.known_debtors():
            if not kd.claims:
                continue
            assessment = harness.adapter.assess_proposal(kd.debtor, proposal_from_claims(kd.claims))
            assert isinstance(assessment, ProposalAssessment), (
                "assess_proposal did not return a ProposalAssessment"
            )
            assert assessment.decision in ("accept", "reject", "manual"), assessment.decision
            if assessment.decision != "accept":
                assert assessment.reason.strip(), f"{assessment.decision} without a reason"
            assessed += 1
        assert assessed, "no sample debtor has claims to propose on"

    @_requires(Capability.PROPOSALS)
    def test_unknown_factuurnummer_in_a_proposal_is_never_accepted(
        self, harness: AdapterHarness
    ) -> None:
        """A proposal naming an invoice the back-office never issued is not accepted."""
        harness.require(Capability.CLAIMS, "the kit builds proposals from listed claims")
        unknown = type(self).unknown_factuurnummer
        for kd in harness.known_debtors():
            for proposal in (
                proposal_from_claims(kd.claims, extra_factuurnummers=[unknown]),
                proposal_from_claims((), extra_factuurnummers=[unknown]),
            ):
                assessment = harness.adapter.assess_proposal(kd.debtor, proposal)
                assert assessment.decision != "accept", (
                    f"{kd.label}: a proposal with unknown factuurnummer {unknown} was accepted"
                )

    # -- ARRANGEMENTS -----------------------------------------------------------------------

    @_requires(Capability.ARRANGEMENTS)
    def test_record_arrangement_twice_is_idempotent(self, harness: AdapterHarness) -> None:
        """record_arrangement twice for one conversation_id: no error either time."""
        harness.require(Capability.CLAIMS, "the kit records arrangements on listed claims")
        kd = next((k for k in harness.known_debtors() if k.claims), None)
        assert kd is not None, "no sample debtor has claims to arrange"
        proposal = proposal_from_claims(kd.claims)
        arrangement = Arrangement(
            type_schuldregeling=proposal.type_schuldregeling,
            datum_akkoord=date.today(),
            claims=proposal.claims,
            conversation_id=uuid.uuid4(),
        )
        harness.adapter.record_arrangement(kd.debtor, arrangement)
        harness.adapter.record_arrangement(kd.debtor, arrangement)  # the same again: no error

    # -- WRITE_OFF --------------------------------------------------------------------------

    @_requires(Capability.WRITE_OFF)
    def test_write_off_twice_gives_the_same_result(self, harness: AdapterHarness) -> None:
        """write_off twice with one write_off_id: the same WriteOffResult."""
        harness.require(Capability.CLAIMS, "the kit writes off listed claims")
        kd = next((k for k in harness.known_debtors() if k.claims), None)
        assert kd is not None, "no sample debtor has claims to write off"
        nummers = tuple(c.factuurnummer for c in kd.claims)
        request = WriteOff(
            write_off_id=uuid.uuid4(),
            debtor_id=kd.debtor.debtor_id,
            factuurnummers=nummers,
            reason="SCHULDREGELING_GESLAAGD",
            datum=date.today(),
            conversation_id=uuid.uuid4(),
        )
        first = harness.adapter.write_off(kd.debtor, request)
        assert isinstance(first, WriteOffResult), "write_off did not return a WriteOffResult"
        assert first.write_off_id == request.write_off_id, "the result has another write_off_id"
        assert set(first.written_off) <= set(nummers), "written off claims that were not asked"
        problem = _amount_problem("the written-off amount", first.amount)
        assert problem is None, problem
        assert first.amount >= 0, "the written-off amount is negative"
        second = harness.adapter.write_off(kd.debtor, request)
        assert second == first, f"written off twice, the results differ: {first!r}, {second!r}"

    # -- errors -----------------------------------------------------------------------------

    def _run_outage(
        self, harness: AdapterHarness, tmp_path: Path, hook_name: str
    ) -> tuple[list[str], list[str]]:
        calls = harness.calls()  # prepared on the reachable back-office
        batch = harness.batch_calls()
        deadline = type(self).max_call_seconds
        problems: list[str] = []
        texts: list[str] = []
        directory = tmp_path / hook_name
        directory.mkdir(parents=True, exist_ok=True)
        with self._outage_options(hook_name, harness.sample, directory) as options:
            try:
                adapter = harness.load(options)
            except AdapterLoadError as exc:
                pytest.fail(
                    f"the adapter does not load with {hook_name}(): {exc} (construct without "
                    "reaching the back-office, so the connector starts and retries)",
                    pytrace=False,
                )
            for call, fn in calls.items():
                outcome = run_with_deadline(call, functools.partial(fn, adapter), deadline)
                problem = outcome.problem(deadline=deadline, expect=BackOfficeUnavailable)
                if problem:
                    problems.append(problem)
                if outcome.error is not None:
                    texts += exception_texts(outcome.error)
            for call, fn in batch.items():
                # a batch answers with an error in place of each hold; it does not raise
                outcome = run_with_deadline(call, functools.partial(fn, adapter), deadline)
                if not outcome.finished:
                    problems.append(f"{call}() did not return within {deadline:g} s")
                    continue
                if outcome.error is not None:
                    problems.append(
                        f"{call}() raised {type(outcome.error).__name__}; put an AdapterError "
                        "in place of each hold that failed"
                    )
                    texts += exception_texts(outcome.error)
                    continue
                results = outcome.result
                if not isinstance(results, list) or len(results) != 2:
                    problems.append(f"{call}() gave {results!r} for 2 holds")
                    continue
                for result in results:
                    if isinstance(result, BaseException):
                        texts += exception_texts(result)
                    if not isinstance(result, BackOfficeUnavailable):
                        problems.append(
                            f"{call}() gave {type(result).__name__} for a hold, not "
                            "BackOfficeUnavailable"
                        )
            if hook_name == "unreachable_options":
                checked = run_with_deadline("check", adapter.check, deadline)
                if not checked.finished:
                    problems.append(f"check() did not return within {deadline:g} s")
                elif checked.error is not None:
                    problems.append(
                        f"check() raised {type(checked.error).__name__}; report the failure "
                        "as a CheckResult with ok False"
                    )
                    texts += exception_texts(checked.error)
                elif not isinstance(checked.result, list) or all(
                    isinstance(r, CheckResult) and r.ok for r in checked.result
                ):
                    problems.append("check() reports everything ok while the back-office is down")
                else:
                    texts += [r.message for r in checked.result if isinstance(r, CheckResult)]
        return problems, texts

    def test_unreachable_backoffice_raises_unavailable(
        self, harness: AdapterHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Unreachable: every call raises BackOfficeUnavailable (retryable); check() says so."""
        caplog.set_level(logging.DEBUG)
        problems, texts = self._run_outage(harness, tmp_path, "unreachable_options")
        assert not problems, "with the back-office unreachable: " + "; ".join(problems)
        harness.assert_no_personal_data(texts, "an exception or check() message")
        harness.assert_no_personal_data(log_texts(caplog.records), "a log record")

    def test_slow_backoffice_raises_timeout(
        self, harness: AdapterHarness, tmp_path: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Slow: every call raises BackOfficeTimeout (or BackOfficeUnavailable) in time."""
        caplog.set_level(logging.DEBUG)
        problems, texts = self._run_outage(harness, tmp_path, "slow_options")
        assert not problems, "with the back-office too slow: " + "; ".join(problems)
        harness.assert_no_personal_data(texts, "an exception message")
        harness.assert_no_personal_data(log_texts(caplog.records), "a log record")

    # -- privacy ----------------------------------------------------------------------------

    def _debug_everywhere(self, caplog: pytest.LogCaptureFixture) -> list[logging.Logger]:
        """Every logger at DEBUG (bar the declared exemptions); returns non-propagating ones."""
        exemptions = dict(type(self).privacy_log_levels)
        for name, (_, reason) in exemptions.items():
            if not str(reason).strip():
                pytest.fail(f"privacy_log_levels[{name!r}] has no reason", pytrace=False)
        caplog.set_level(logging.DEBUG)
        isolated: list[logging.Logger] = []
        for name, logger in list(logging.root.manager.loggerDict.items()):
            if not isinstance(logger, logging.Logger):
                continue
            if logger.level not in (logging.NOTSET, logging.DEBUG):
                caplog.set_level(logging.DEBUG, logger=name)
            if not logger.propagate and caplog.handler not in logger.handlers:
                logger.addHandler(caplog.handler)
                isolated.append(logger)
        for name, (level, _) in exemptions.items():
            caplog.set_level(level, logger=name)
        caplog.handler.setLevel(logging.DEBUG)  # set_level also set the handler's (restored after)
        return isolated

    @_requires(Capability.CLAIMS)
    def test_no_personal_data_in_logs(
        self, harness: AdapterHarness, caplog: pytest.LogCaptureFixture
    ) -> None:
        """At DEBUG everywhere, finding, listing and holding log no sample BSN, name or postcode.

        Holding also in batches, with a bad hold among them: nor is one in the errors.
        """
        isolated = self._debug_everywhere(caplog)
        errors: list[str] = []
        try:
            adapter = harness.adapter
            isolated += self._debug_everywhere(caplog)  # loggers the adapter made on loading
            for sd in harness.sample.debtors:
                query = full_query(sd)
                for attempt in (
                    query,
                    DebtorQuery(bsn=sd.person.bsn),
                    DebtorQuery(klantnummer_se=sd.klantnummer_se),
                    DebtorQuery(factuurnummers=sd.factuurnummers),
                    query.model_copy(update={"bsn": None, "klantnummer_se": None}),
                ):
                    found = adapter.find_debtor(attempt)
                    if found is not None:
                        adapter.list_claims(found)
            adapter.find_debtor(unknown_person_query(harness.sample, bsn=type(self).unknown_bsn))
            if Capability.HOLDS in harness.capabilities:
                for kd in harness.known_debtors():
                    hold = make_hold(kd.debtor.debtor_id)
                    adapter.apply_hold(hold)
                    adapter.apply_hold(hold)
                    adapter.release_hold(hold)
                    adapter.release_hold(hold)
                holds = [make_hold(kd.debtor.debtor_id) for kd in harness.known_debtors()]
                holds.append(make_hold(type(self).unknown_debtor_id))
                for call in (adapter.apply_holds, adapter.apply_holds, adapter.release_holds):
                    for result in call(holds):
                        if isinstance(result, BaseException):
                            errors += exception_texts(result)
        finally:
            for logger in isolated:
                logger.removeHandler(caplog.handler)
        harness.assert_no_personal_data(log_texts(caplog.records), "a log record")
        harness.assert_no_personal_data(errors, "an error in a batch answer")


def _inherited_test(cls: type, name: str) -> object:
    """The nearest definition of a kit test in ``cls``'s bases that the kit did not gate."""
    for klass in cls.__mro__[1:]:
        if name in vars(klass):
            value = vars(klass)[name]
            if value is None and name in vars(klass).get("_skn_gated", ()):
                continue
            return value
    return None


_KIT_TESTS.update(
    {
        name: getattr(value, _REQUIRES, frozenset())
        for name, value in vars(AdapterConformance).items()
        if name.startswith("test_") and callable(value)
    }
)


# -- the pytest plugin ------------------------------------------------------------------------


@pytest.fixture
def skn_adapter_harness(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[[AdapterSpec], AdapterHarness]]:
    """A factory: ``skn_adapter_harness("my_backoffice")`` -> a harness on a fresh sample.

    Every harness it made is closed after the test.
    """
    made: list[AdapterHarness] = []

    def factory(adapter: AdapterSpec) -> AdapterHarness:
        harness = AdapterHarness.create(adapter, tmp_path_factory.mktemp("skn-sample"))
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        harness.close()
