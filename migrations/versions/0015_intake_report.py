"""intake report: the look-around and the write of a report in one database function

Revision ID: 0015
Revises: 0016
Create Date: 2026-12-03 12:00:00

A report was stored by statements the API generated from the models at import: the
look-around with the write behind it in a CTE, a variant that also confirmed a caller the API
process remembered, and a second statement for a recurrence. `intake_report` does it in one
call, as a function everyone can read here:

1. `intake_look_around` (0013): is the id taken, the possible duplicates in the reporter's
   scope, the recurrence (the responsible unit's own) or the possible one (another unit's).
2. A taken id: the stored finding back, `replayed` if its request hash is the one sent,
   `conflict` if not; nothing written. So is an id a racing copy of the same report took
   between the look-around and the write (the insert waits for its commit, then the read
   sees it).
3. Otherwise the finding is written with the recurrence found (`recurrence_of`, or
   `possible_recurrence_of`), named on its report event too, and its events after it, in
   their order: `created`. One exception: a recurrence of a finding whose source is in
   `p_restart_sources` (an exposure video's, whose ladder the new finding takes from L3:
   services/core/findings/intake.py) changes the escalation plan, which the API computes.
   Then nothing is written and the answer is `recurrence`; the API sends the row built for
   it, which names its recurrence and is written as given.

`hidden` lists the findings the answer's finding links to that the reporter may not see
(the scope of services/core/identity/scope.py), so the answer never names them.

Parameters: the finding (its columns as JSON, those the intake sets), its events (a JSON
array of rows of `events` without `finding_id`), the category's radius in metres, the box
(lat_lo, lat_hi, lon_lo, lon_hi: services/core/findings/spatial.box), the start of the
recurrence window, the reporter's scope (city-wide, unit path; the finding's reporter is
theirs) and the restarting sources.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SIGNATURE = (
    "jsonb, jsonb, double precision, double precision, double precision, double precision,"
    " double precision, timestamptz, boolean, text, varchar[]"
)

# The columns the intake sets (services/core/findings/store.FINDING_COLUMNS as of this
# revision); the others take their defaults.
COLUMNS = (
    "id",
    "source",
    "category_id",
    "severity",
    "description",
    "lat",
    "lon",
    "address",
    "place_unit_id",
    "responsible_unit_id",
    "district_id",
    "point_type",
    "observed_at",
    "reported_at",
    "reporter_id",
    "status",
    "request_hash",
    "updated_at",
    "recurrence_of",
    "possible_recurrence_of",
    "exposure_video_id",
    "video_offset",
    "dispatched_at",
    "due_at",
    "escalation_plan",
    "next_escalation_at",
)

# The reporter's scope over the finding `{t}`, as scope.visible_findings has it.
_VISIBLE = (
    "(p_city_wide OR {t}.reporter_id = f.reporter_id OR EXISTS (SELECT FROM units u"
    " WHERE u.id IN ({t}.responsible_unit_id, {t}.place_unit_id)"
    " AND u.path LIKE p_unit_path || '%'))"
)

FUNCTION = f"""
CREATE FUNCTION intake_report(
    p_finding jsonb, p_events jsonb, p_radius_m double precision,
    p_lat_lo double precision, p_lat_hi double precision,
    p_lon_lo double precision, p_lon_hi double precision,
    p_closed_since timestamptz, p_city_wide boolean, p_unit_path text,
    p_restart_sources varchar[])
RETURNS TABLE (outcome text, duplicates uuid[], recurrence_of uuid,
               possible_recurrence_of uuid, recurred_source varchar, recurred_policy text,
               hidden uuid[], stored findings)
LANGUAGE plpgsql
AS $fn$
DECLARE
    f findings := jsonb_populate_record(NULL::findings, p_finding);
    look record;
    decide boolean := f.recurrence_of IS NULL AND f.possible_recurrence_of IS NULL;
BEGIN
    SELECT * INTO look FROM intake_look_around(
        f.id, f.category_id, f.lat, f.lon, p_radius_m, p_lat_lo, p_lat_hi, p_lon_lo, p_lon_hi,
        p_closed_since, p_city_wide, p_unit_path, f.reporter_id, f.responsible_unit_id);
    duplicates := look.duplicates;
    hidden := '{{}}';
    IF look.taken_hash IS NULL THEN
        IF decide AND look.recurred_id IS NOT NULL
           AND look.recurred_source = ANY (p_restart_sources) THEN
            outcome := 'recurrence';
            recurrence_of := look.recurred_id;
            recurred_source := look.recurred_source;
            recurred_policy := look.recurred_policy;
            RETURN NEXT;
            RETURN;
        END IF;
        IF decide THEN
            f.recurrence_of := look.recurred_id;
            f.possible_recurrence_of := look.possible_recurrence;
            IF NOT look.earlier_visible THEN
                hidden := array_remove(
                    ARRAY[coalesce(look.recurred_id, look.possible_recurrence)], NULL);
            END IF;
        ELSE
            SELECT coalesce(array_agg(r.id), '{{}}') INTO hidden FROM findings r
            WHERE r.id IN (f.recurrence_of, f.possible_recurrence_of)
              AND NOT {_VISIBLE.format(t="r")};
        END IF;
        INSERT INTO findings ({", ".join(COLUMNS)})
        VALUES ({", ".join(f"f.{c}" for c in COLUMNS)})
        ON CONFLICT (id) DO NOTHING;
        IF FOUND THEN
            -- ORDINALITY keeps the events' order, so the report gets the lower id (the trail
            -- is ordered by id); the report names the recurrence.
            INSERT INTO events (finding_id, actor_id, action, from_status, to_status, payload,
                                at)
            SELECT f.id, e.actor_id, e.action, e.from_status, e.to_status,
                   CASE WHEN e.action = 'report' THEN coalesce(e.payload, '{{}}')
                        || jsonb_strip_nulls(jsonb_build_object(
                               'recurrence_of', f.recurrence_of,
                               'possible_recurrence_of', f.possible_recurrence_of))
                        ELSE coalesce(e.payload, '{{}}') END,
                   e.at
            FROM jsonb_array_elements(p_events) WITH ORDINALITY AS j(event, ord)
            CROSS JOIN LATERAL jsonb_populate_record(NULL::events, j.event) AS e
            ORDER BY j.ord;
            outcome := 'created';
            recurrence_of := f.recurrence_of;
            possible_recurrence_of := f.possible_recurrence_of;
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;
    -- The id is taken: by an earlier report, or by a racing copy that has committed since.
    SELECT * INTO stored FROM findings s WHERE s.id = f.id;
    outcome := CASE WHEN stored.request_hash = f.request_hash THEN 'replayed' ELSE 'conflict' END;
    SELECT coalesce(array_agg(r.id), '{{}}') INTO hidden FROM findings r
    WHERE r.id IN (stored.recurrence_of, stored.possible_recurrence_of, stored.duplicate_of)
      AND NOT {_VISIBLE.format(t="r")};
    RETURN NEXT;
END
$fn$
"""  # noqa: S608 - built from the constants above only


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute(f"DROP FUNCTION intake_report({SIGNATURE})")
