"""The demo CRM planner: deterministic, realistic within stated bounds, stable as sizes grow."""

from __future__ import annotations

import re
from datetime import date

import pytest

from maintenance.fleet import demo_crm
from maintenance.fleet.seed import OWNERS

AS_OF = date(2026, 6, 30)
KITS = {
    "svc-250h": (demo_crm.PartUse("OIL-15W40-20L", 1), demo_crm.PartUse("FLT-OIL-STD", 1)),
    "svc-500h": (demo_crm.PartUse("FLT-FUEL-PRI", 1),),
}


def owners(seed: int = 7, count: int = 40) -> list[demo_crm.OwnerSpec]:
    return demo_crm.plan_owners(seed=seed, count=count, as_of=AS_OF, named=OWNERS)


def machines(seed: int = 7, count: int = 300) -> list[demo_crm.MachineSpec]:
    return demo_crm.plan_machines(seed=seed, count=count, owners=owners(seed), as_of=AS_OF)


def test_the_same_seed_plans_the_same_records_and_another_seed_does_not() -> None:
    assert owners(7) == owners(7)
    assert machines(7) == machines(7)
    assert demo_crm.plan_technicians(seed=7) == demo_crm.plan_technicians(seed=7)
    assert owners(7) != owners(8)
    assert machines(7) != machines(8)


def test_growing_a_size_keeps_the_records_already_planned() -> None:
    assert owners(count=60)[:40] == owners(count=40)
    assert machines(count=120)[:80] == machines(count=80)


def test_the_named_owners_come_first_with_their_dealers() -> None:
    planned = owners()
    assert [(o.code, o.name, o.kind, o.dealer_code) for o in planned[: len(OWNERS)]] == list(OWNERS)
    assert len({o.code for o in planned}) == 40
    assert len({o.name for o in planned}) == 40


def test_owners_have_a_realistic_mix_of_kinds_and_customer_since_over_fifteen_years() -> None:
    planned = owners(count=40)
    assert {o.kind for o in planned} == {
        "farmer",
        "cooperative",
        "contractor",
        "rental",
        "government",
    }
    since = sorted(o.customer_since for o in planned)
    assert (since[-1] - since[0]).days > 10 * 365
    assert since[-1] <= AS_OF


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_each_owner_has_one_to_three_contacts_one_preferred(seed: int) -> None:
    for owner in owners(seed):
        assert 1 <= len(owner.contacts) <= 3
        assert sum(c.preferred for c in owner.contacts) == 1
        assert len({c.name for c in owner.contacts}) == len(owner.contacts)
        assert all(c.phone or c.email for c in owner.contacts)


@pytest.mark.parametrize("seed", [1, 7, 42, 99])
def test_every_dealer_covers_every_skill(seed: int) -> None:
    techs = demo_crm.plan_technicians(seed=seed)
    for dealer in demo_crm.DEALERS:
        staff = [t for t in techs if t.dealer_code == dealer.code]
        assert 3 <= len(staff) <= 5
        assert {s for t in staff for s in t.skills} == set(demo_crm.SKILLS)
        assert len({t.name for t in staff}) == len(staff)


def test_machines_have_valid_unique_pins_and_plausible_commercial_facts() -> None:
    planned = machines()
    by_code = {o.code: o for o in owners()}
    assert len({m.pin for m in planned}) == len(planned)
    for m in planned:
        assert re.fullmatch(r"[A-Z0-9]{17}", m.pin), m.pin
        owner = by_code[m.owner_code]
        assert owner.customer_since <= m.purchase_date < AS_OF
        assert AS_OF.year - demo_crm.MAX_AGE_Y <= m.year <= AS_OF.year
        warranty_y = (m.warranty_end - m.purchase_date).days / 365.25
        assert 1.99 < warranty_y < 3.01
        list_price = next(p for name, p, _, _ in demo_crm.MODELS[m.kind] if name == m.model)
        assert 0.5 * list_price < m.purchase_price <= list_price
    same_dealer = sum(m.selling_dealer_code == m.dealer_code for m in planned)
    assert 0.7 * len(planned) < same_dealer < len(planned)
    assert {m.owner_code for m in planned} == set(by_code)  # everyone owns a machine


def test_history_is_in_the_past_at_rising_hours_with_warranty_work_inside_the_warranty() -> None:
    by_code = {o.code: o for o in owners()}
    techs = demo_crm.plan_technicians(seed=7)
    total = 0
    for m in machines()[:60]:
        history = demo_crm.plan_history(
            m, seed=7, owner=by_code[m.owner_code], technicians=techs, kits=KITS, as_of=AS_OF
        )
        total += len(history)
        services = sorted((s for s in history if s.kind == "service"), key=lambda s: s.done_at)
        hours = [s.engine_hours for s in services]
        assert hours == sorted(hours)
        for s in history:
            assert m.purchase_date <= s.done_at.date() < AS_OF
            assert s.dealer_code == m.dealer_code
            assert s.labour_h > 0
            if s.kind in ("repair", "warranty"):
                assert (s.kind == "warranty") == (s.done_at.date() <= m.warranty_end)
            staff = {t.name for t in techs if t.dealer_code == m.dealer_code}
            assert s.technician_name in staff
    assert total > 60


def test_a_500_hour_visit_also_does_the_250_hour_work() -> None:
    by_code = {o.code: o for o in owners()}
    history = [
        s
        for m in machines()[:40]
        for s in demo_crm.plan_history(
            m,
            seed=7,
            owner=by_code[m.owner_code],
            technicians=demo_crm.plan_technicians(seed=7),
            kits=KITS,
            as_of=AS_OF,
        )
    ]
    big = [s for s in history if s.rule_key == "svc-500h"]
    assert big
    assert all(s.parts == (*KITS["svc-250h"], *KITS["svc-500h"]) for s in big)


def test_pin_layout() -> None:
    assert demo_crm.pin_for(maker="CAT", model="320 GC", year=2024, sequence=42) == (
        "CAT320GCR00000042"
    )
