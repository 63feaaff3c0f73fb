"""What an import file may hold, checked without the database: the columns of each kind, how
a cell is read, and what is wrong with a row, in Chinese and English with its line.

A row is read into `Record.values`: only the columns the file has, each parsed (an empty
optional cell is None). What the file does not have, an import leaves as it is; what it has,
it sets. The checks that need the database (does the parent unit exist, is the post held by
someone else) are the service's (services/core/imports/service.py).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from services.core.calendar.deadlines import MAX_WORKING_DAYS, parse_duration
from services.core.escalation.rules import TARGETS, validate_levels
from services.core.inspection.rules import METHOD_WORDS
from services.core.models import CHANNELS, CRITERION_METHODS, POST_ROLES, UNIT_KINDS

# A file of a city's organisation or catalogue: thousands of rows at most.
MAX_ROWS = 20_000
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
GROUP = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
URL = re.compile(r"^https?://\S+$")
# PostgreSQL refuses NUL in text, and control characters have no business in a name.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CellError(ValueError):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


@dataclass(frozen=True)
class RowError:
    """What is wrong, where: `line` is the line of a CSV file, the row of a worksheet or the
    number of a GeoJSON feature (from 1); None for the file as a whole."""

    line: int | None
    column: str | None
    zh: str
    en: str

    def place(self, unit: str = "line") -> tuple[str, str]:
        """(Chinese, English) name of the place: 第 3 行 / line 3."""
        if self.line is None:
            return "文件", "file"
        if unit == "feature":
            return f"第 {self.line} 个要素", f"feature {self.line}"
        return f"第 {self.line} 行", f"line {self.line}"


Parser = Callable[[Any], Any]


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    parse: Parser
    required: bool = False
    example: str = ""
    # What the cell holds, for the template's notes.
    help: str = ""

    @property
    def header(self) -> str:
        return f"{self.zh} {self.key}"


@dataclass(frozen=True)
class Record:
    line: int
    values: dict[str, Any]


@dataclass(frozen=True)
class Kind:
    name: str
    zh: str
    columns: tuple[Column, ...]
    # Checks across the rows of one file, once each row is read.
    check: Callable[[Sequence[Record]], list[RowError]] = field(default=lambda _records: [])
    # The file holds GeoJSON features, not a table.
    geojson: bool = False

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)

    def label(self, key: str | None) -> tuple[str, str]:
        column = self.column(key) if key else None
        if column is None:
            return (key or "", key or "")
        return f"{column.zh}（{column.key}）", column.key


def error_text(kind: Kind, error: RowError) -> str:
    """One line, Chinese then English: 第 3 行，名称（name）：必填 / line 3, name: required."""
    where_zh, where_en = error.place("feature" if kind.geojson else "line")
    col_zh, col_en = kind.label(error.column)
    if error.column:
        return f"{where_zh}，{col_zh}：{error.zh} / {where_en}, {col_en}: {error.en}"
    return f"{where_zh}：{error.zh} / {where_en}: {error.en}"


# ---- cells ----


def _text(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)  # a spreadsheet's 370202 is the code "370202", not "370202.0"
    if isinstance(raw, datetime | date | time):
        raw = raw.isoformat()
    value = str(raw).strip()
    if CONTROL.search(value):
        raise CellError("含有控制字符", "contains control characters")
    return value


def text(max_length: int) -> Parser:
    def parse(raw: Any) -> str:
        value = _text(raw)
        if len(value) > max_length:
            raise CellError(f"超过 {max_length} 个字符", f"longer than {max_length} characters")
        return value

    return parse


def matching(pattern: re.Pattern[str], zh: str, en: str) -> Parser:
    """Text that `pattern` matches, else the cell error saying (in both languages) what it
    must look like."""

    def parse(raw: Any) -> str:
        value = _text(raw)
        if not pattern.match(value):
            raise CellError(zh, en)
        return value

    return parse


code = matching(
    CODE,
    "编码须以字母或数字开头，只含字母、数字和 . _ -，至多 64 个字符",
    "a code starts with a letter or digit and holds only letters, digits and . _ - (64 at most)",
)

group = matching(
    GROUP,
    "分组须为小写字母开头的小写字母、数字和下划线，如 city_appearance",
    "a group is lower-case letters, digits and _, starting with a letter, e.g. city_appearance",
)


def url(raw: Any) -> str:
    value = _text(raw)
    if len(value) > 500 or not URL.match(value):
        raise CellError("须为 http:// 或 https:// 地址", "must be an http:// or https:// URL")
    return value


def choice(values: Sequence[str], words: Mapping[str, str] | None = None) -> Parser:
    """One of `values`, or a Chinese word for one (`words`: 街道 → street)."""
    words = words or {}

    def parse(raw: Any) -> str:
        value = _text(raw)
        value = words.get(value, value)
        if value not in values:
            listed = ", ".join(values)
            raise CellError(f"须为以下之一：{listed}", f"must be one of: {listed}")
        return value

    return parse


def number(low: float, high: float, *, integer: bool = False) -> Parser:
    def parse(raw: Any) -> float | int:
        try:
            value = float(raw) if not isinstance(raw, str) else float(raw.strip())
        except (TypeError, ValueError):
            raise CellError("须为数字", "must be a number") from None
        if isinstance(raw, bool) or math.isnan(value) or not low <= value <= high:
            raise CellError(
                f"须在 {low:g} 到 {high:g} 之间", f"must be between {low:g} and {high:g}"
            )
        if integer:
            if not value.is_integer():
                raise CellError("须为整数", "must be a whole number")
            return int(value)
        return value

    return parse


TRUE_WORDS = frozenset({"true", "yes", "1", "是", "启用", "y"})
FALSE_WORDS = frozenset({"false", "no", "0", "否", "停用", "n"})


def boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    value = _text(raw).lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise CellError("须为 是 或 否", "must be true or false (是 / 否)")


def moment(tz: ZoneInfo) -> Parser:
    """A date (the start of that day in the city) or a date and time (in the city's zone
    unless it carries an offset). A worksheet's date cells come as they are."""

    def parse(raw: Any) -> datetime:
        if isinstance(raw, datetime):
            value = raw
        elif isinstance(raw, date):
            value = datetime.combine(raw, time())
        else:
            s = _text(raw)
            try:
                value = (
                    datetime.combine(date.fromisoformat(s), time())
                    if len(s) == 10
                    else datetime.fromisoformat(s)
                )
            except ValueError:
                raise CellError(
                    "须为日期，如 2026-01-01，或日期时间，如 2026-01-01T08:30:00+08:00",
                    "must be a date such as 2026-01-01 or a time such as 2026-01-01T08:30:00+08:00",
                ) from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=tz)
        if not 2000 <= value.year <= 2100:
            raise CellError("年份须在 2000 到 2100 之间", "the year must be 2000 to 2100")
        return value

    return parse


def time_limit(raw: Any) -> dict[str, Any]:
    """A category's time limit: a whole number of working days (2) or an ISO 8601 duration
    for the continuous clock (PT2H)."""
    return _days_or_duration(raw, least=1, example="PT2H")


def after(raw: Any) -> dict[str, Any]:
    """When a level fires, from the deadline: working days (0 = at the deadline) or a
    duration."""
    return _days_or_duration(raw, least=0, example="PT4H")


def _days_or_duration(raw: Any, *, least: int, example: str) -> dict[str, Any]:
    """Working days from `least` up, or an ISO 8601 duration (zero only where `least` is)."""
    s = _text(raw)
    if re.fullmatch(r"\d+(\.0+)?", s):
        days = int(float(s))
        if not least <= days <= MAX_WORKING_DAYS:
            raise CellError(
                f"工作日数须在 {least} 到 {MAX_WORKING_DAYS} 之间",
                f"working days must be between {least} and {MAX_WORKING_DAYS}",
            )
        return {"working_days": days}
    try:
        parse_duration(s, allow_zero=least == 0)
    except ValueError as exc:
        raise CellError(
            f"须为工作日数（如 2）或 ISO 8601 时长（如 {example}）",
            f"must be a number of working days (2) or an ISO 8601 duration ({example}): {exc}",
        ) from None
    return {"duration": s.upper()}


def channels(raw: Any) -> list[str]:
    parts = [p.strip() for p in re.split(r"[,，;；\s]+", _text(raw)) if p.strip()]
    allowed = ", ".join(CHANNELS)
    if not parts or any(p not in CHANNELS for p in parts) or len(set(parts)) != len(parts):
        raise CellError(
            f"须为以逗号分隔的渠道，每个至多一次：{allowed}",
            f"must be channels separated by commas, each at most once: {allowed}",
        )
    return parts


def fraction(raw: Any) -> float:
    """A share of the time limit: 0.8 or 80%."""
    s = _text(raw)
    percent = s.endswith("%")
    try:
        value = float(s.rstrip("%")) / (100 if percent else 1)
    except ValueError:
        raise CellError(
            "须为 0 到 1 之间的小数或百分比", "must be a fraction or a percentage"
        ) from None
    if not 0 < value < 1:
        raise CellError("须大于 0 且小于 1（或 0% 到 100%）", "must lie strictly between 0 and 1")
    return value


def outline(raw: Any) -> dict[str, Any]:
    """A point's outline: a GeoJSON Polygon written in the cell."""
    try:
        value = json.loads(_text(raw))
    except ValueError:
        raise CellError("须为 GeoJSON 多边形", "must be a GeoJSON Polygon") from None
    rings = value.get("coordinates") if isinstance(value, dict) else None
    if (
        not isinstance(value, dict)
        or value.get("type") != "Polygon"
        or not isinstance(rings, list)
        or not rings
        or not all(
            isinstance(ring, list)
            and len(ring) >= 4
            and all(
                isinstance(p, list)
                and len(p) == 2
                and all(isinstance(c, int | float) and not isinstance(c, bool) for c in p)
                and -180 <= p[0] <= 180
                and -90 <= p[1] <= 90
                for p in ring
            )
            for ring in rings
        )
    ):
        raise CellError(
            "须为 GeoJSON 多边形（经度、纬度），每个环至少 4 个点",
            "must be a GeoJSON Polygon of [lon, lat] rings of 4 points or more",
        )
    return {"type": "Polygon", "coordinates": rings}


def code_list(raw: Any) -> list[str]:
    """Codes separated by commas (or 、 ； and spaces), each once."""
    parts = [p.strip() for p in re.split(r"[,，;；、\s]+", _text(raw)) if p.strip()]
    for p in parts:
        code(p)
    if len(set(parts)) != len(parts):
        raise CellError("编码重复", "a code is listed twice")
    return parts


# ---- the kinds ----

UNIT_WORDS = {
    "市": "city", "区": "district", "区市": "district", "县": "district", "街道": "street",
    "镇": "street", "乡": "street", "社区": "community", "村": "community",
    "部门": "department", "职能部门": "department", "文明办": "campaign_office",
    "纪委监委": "discipline_commission",
}  # fmt: skip
ROLE_WORDS = {
    "一把手": "head", "主要负责人": "head", "副职": "deputy", "分管领导": "deputy",
    "经办人": "handler", "联系市领导": "city_leader", "复核员": "verifier",
}  # fmt: skip
CATEGORY_WORDS = {"部件": "facility", "事件": "event"}
TARGET_WORDS = {
    "单位一把手": "unit_head", "区市一把手": "district_head", "联系市领导": "city_leader",
    "纪委监委": "discipline_commission",
}  # fmt: skip


def _duplicates(records: Sequence[Record], key: Sequence[str]) -> list[RowError]:
    seen: dict[tuple[Any, ...], int] = {}
    errors = []
    for r in records:
        k = tuple(r.values.get(c) for c in key)
        if None in k and len(key) == 1:
            continue
        if k in seen:
            errors.append(
                RowError(
                    r.line,
                    key[0],
                    f"与第 {seen[k]} 行重复",
                    f"the same as line {seen[k]}",
                )
            )
        else:
            seen[k] = r.line
    return errors


def _unique_codes(records: Sequence[Record]) -> list[RowError]:
    """Units, people, point types and points: a code names one row of a file."""
    return _duplicates(records, ("code",))


def _check_posts(records: Sequence[Record]) -> list[RowError]:
    errors = _duplicates(records, ("unit", "role", "person", "valid_from"))
    for r in records:
        start, end = r.values.get("valid_from"), r.values.get("valid_to")
        if start is not None and end is not None and end <= start:
            errors.append(
                RowError(r.line, "valid_to", "须晚于任职开始", "must be later than valid_from")
            )
    return errors


def _check_categories(records: Sequence[Record]) -> list[RowError]:
    return _duplicates(records, ("code",))


def _check_rules(records: Sequence[Record]) -> list[RowError]:
    errors = []
    for r in records:
        if (r.values.get("category") is None) == (r.values.get("group") is None):
            errors.append(
                RowError(
                    r.line,
                    "category",
                    "类别编码和类别分组须填且只填一项",
                    "give exactly one of category and group",
                )
            )
    keyed = [
        r for r in records if (r.values.get("category") is None) != (r.values.get("group") is None)
    ]
    return errors + _duplicates(keyed, ("area_unit", "category", "group"))


def _check_criteria(records: Sequence[Record]) -> list[RowError]:
    errors = _duplicates(records, ("set", "code"))
    for r in records:
        if r.values.get("parent") is not None and r.values["parent"] == r.values.get("code"):
            errors.append(
                RowError(r.line, "parent", "不能是自身", "cannot be the indicator itself")
            )
    return errors


def policy_levels(records: Sequence[Record]) -> dict[str, list[Record]]:
    """The rows of each policy, by code, in the file's order."""
    out: dict[str, list[Record]] = {}
    for r in records:
        if r.values.get("code") is not None:
            out.setdefault(r.values["code"], []).append(r)
    return out


def _check_policies(records: Sequence[Record]) -> list[RowError]:
    errors: list[RowError] = []
    for rows in policy_levels(records).values():
        first = rows[0]
        for r in rows[1:]:
            for key in ("name", "reminder_at"):
                if key in r.values and r.values[key] != first.values.get(key):
                    errors.append(
                        RowError(
                            r.line,
                            key,
                            f"同一阶梯的各行须相同（见第 {first.line} 行）",
                            f"must be the same on every row of the policy (see line {first.line})",
                        )
                    )
        levels = [ladder_level(r) for r in rows]
        for field_name, message in validate_levels(levels):
            i = int(field_name.split("[", 1)[1].split("]", 1)[0])
            column = (
                field_name.split("].", 1)[1].split(".", 1)[0] if "]." in field_name else "level"
            )
            errors.append(RowError(rows[i].line, column, "督办阶梯无效：" + message, message))
    return errors


def ladder_level(r: Record) -> dict[str, Any]:
    return {
        "level": r.values.get("level"),
        "target": r.values.get("target"),
        "after": r.values.get("after"),
        "channels": r.values.get("channels") or ["inbox"],
    }


def kinds(tz: ZoneInfo) -> dict[str, Kind]:
    """Every kind of import, its columns in the template's order."""
    unit_kinds = "/".join(UNIT_KINDS)
    return {
        k.name: k
        for k in (
            Kind("units", "单位", (
                Column("code", "单位编码", code, True, "shinan.badaguan",
                       "stable unique code, e.g. 370202 or shinan.badaguan"),
                Column("name", "名称", text(200), True, "八大关街道"),
                Column("kind", "类型", choice(UNIT_KINDS, UNIT_WORDS), True, "street",
                       f"{unit_kinds} (或 街道、社区、部门 …)"),
                Column("parent", "上级单位编码", code, False, "shinan",
                       "code of the parent unit; empty only for the city itself"),
                Column("lat", "纬度", number(-90, 90), False, "36.0546", "centre, WGS84"),
                Column("lon", "经度", number(-180, 180), False, "120.3560", "centre, WGS84"),
                Column("webhook_url", "通知地址", url, False, "",
                       "where the unit's notifications are POSTed"),
            ), check=_unique_codes),
            Kind("people", "人员", (
                Column("code", "人员编码", code, True, "demo.shinan.badaguan.head",
                       "the office's identifier of the person"),
                Column("name", "姓名", text(100), True, "示例·八大关街道党工委书记"),
                Column("title", "职务", text(200), False, "八大关街道党工委书记"),
                Column("phone", "电话", text(40), False, ""),
                Column("email", "邮箱", text(200), False, ""),
                Column("webhook_url", "通知地址", url, False, ""),
            ), check=_unique_codes),
            Kind("posts", "岗位", (
                Column("unit", "单位编码", code, True, "shinan.badaguan"),
                Column("role", "岗位", choice(POST_ROLES, ROLE_WORDS), True, "head",
                       "/".join(POST_ROLES) + " (或 一把手、经办人 …)"),
                Column("person", "人员编码", code, True, "demo.shinan.badaguan.head"),
                Column("valid_from", "任职开始", moment(tz), True, "2026-01-01",
                       "a date, or a date and time"),
                Column("valid_to", "任职结束", moment(tz), False, "",
                       "empty while the person holds the post"),
            ), check=_check_posts),
            Kind("categories", "问题类别", (
                Column("code", "类别编码", code, True, "exposed_garbage"),
                Column("name", "名称", text(200), True, "暴露垃圾"),
                Column("group", "分组", group, True, "city_appearance"),
                Column("kind", "部件或事件", choice(("facility", "event"), CATEGORY_WORDS),
                       True, "event", "facility (部件) or event (事件)"),
                Column("time_limit", "时限", time_limit, True, "2",
                       "working days (2), or an ISO 8601 duration for the 24x7 clock (PT2H)"),
                Column("duplicate_radius_m", "判重半径（米）", number(1, 10_000, integer=True),
                       False, "30"),
                Column("policy", "督办阶梯", code, False, "default", "escalation policy code"),
                Column("active", "启用", boolean, False, "是", "是/否 (true/false)"),
            ), check=_check_categories),
            Kind("routing-rules", "分派规则", (
                Column("category", "类别编码", code, False, "",
                       "the rule's category, or leave empty and give group"),
                Column("group", "类别分组", group, False, "city_appearance"),
                Column("area_unit", "区域单位编码", code, True, "shinan",
                       "the rule applies to places in this unit's subtree"),
                Column("responsible_unit", "责任单位编码", code, False, "",
                       "empty: the unit of the place itself (属地)"),
            ), check=_check_rules),
            Kind("policies", "督办阶梯", (
                Column("code", "阶梯编码", code, True, "example_ladder"),
                Column("name", "名称", text(200), True, "示例督办阶梯 / example ladder"),
                Column("reminder_at", "提醒比例", fraction, False, "0.8",
                       "pre-due reminder at this share of the time limit; empty: none"),
                Column("level", "级别", number(1, 9, integer=True), True, "1"),
                Column("target", "督办对象", choice(TARGETS, TARGET_WORDS), True, "unit_head",
                       "/".join(TARGETS)),
                Column("after", "超期后", after, True, "0",
                       "working days after the deadline (0: at it), or a duration (PT4H)"),
                Column("channels", "渠道", channels, False, "inbox,webhook",
                       "/".join(CHANNELS)),
            ), check=_check_policies),
            Kind("point-types", "点位类型", (
                Column("code", "类型编码", code, True, "farmers_market"),
                Column("name", "名称", text(200), True, "农贸市场"),
                Column("active", "启用", boolean, False, "是", "是/否 (true/false)"),
            ), check=_unique_codes),
            Kind("points", "测评点位", (
                Column("code", "点位编码", code, True, "shinan.market.01",
                       "stable unique code of the point"),
                Column("name", "名称", text(200), True, "示例·八大关农贸市场"),
                Column("type", "点位类型", code, True, "farmers_market",
                       "a point type code (点位类型)"),
                Column("lat", "纬度", number(-90, 90), True, "36.0546", "WGS84"),
                Column("lon", "经度", number(-180, 180), True, "120.3560", "WGS84"),
                Column("unit", "所在单位编码", code, True, "shinan.badaguan",
                       "the unit of the place (a street or a community)"),
                Column("responsible_unit", "责任单位编码", code, False, "",
                       "empty: the unit of the place"),
                Column("address", "地址", text(300), False, "市南区香港西路"),
                Column("outline", "轮廓", outline, False, "",
                       "optional GeoJSON Polygon of the point's area"),
                Column("active", "启用", boolean, False, "是", "是/否 (true/false)"),
            ), check=_unique_codes),
            Kind("criteria", "测评标准", (
                Column("set", "版本编码", code, True, "demo-2026",
                       "the criteria set (version), e.g. the campaign year's"),
                Column("set_name", "版本名称", text(200), False, "示例测评标准（2026）"),
                Column("code", "指标编码", code, True, "A1.1", "unique within the set"),
                Column("name", "指标名称", text(300), True, "市场环境整洁"),
                Column("parent", "上级指标编码", code, False, "",
                       "empty for a top-level indicator"),
                Column("full_score", "分值", number(0, 1000), True, "10",
                       "weight or full score"),
                Column("point_types", "适用点位类型", code_list, False, "farmers_market",
                       "point type codes, separated by commas; empty: all"),
                Column("check_items", "检查内容", text(4000), False,
                       "地面无垃圾、无积水；摊位整齐"),
                Column("method", "测评方法", choice(CRITERION_METHODS, METHOD_WORDS), True,
                       "field", "field (实地考察) / questionnaire (问卷调查) / records (资料审核)"),
                Column("category", "问题类别编码", code, False, "exposed_garbage",
                       "the category a failed check is reported under"),
            ), check=_check_criteria),
            Kind("boundaries", "单位边界", (
                Column("code", "单位编码", code, True, "shinan.badaguan"),
                Column("geometry", "几何", lambda raw: raw, True, ""),
            ), check=_unique_codes, geojson=True),
        )
    }  # fmt: skip


KINDS = (
    "units", "people", "posts", "categories", "routing-rules", "policies", "boundaries",
    "point-types", "points", "criteria",
)  # fmt: skip


def read_rows(
    kind: Kind, rows: Iterable[tuple[int, Mapping[str, Any]]]
) -> tuple[list[Record], list[RowError]]:
    """Every row parsed, and everything wrong with any of them (nothing is written when the
    list is not empty)."""
    records: list[Record] = []
    errors: list[RowError] = []
    for line, cells in rows:
        values: dict[str, Any] = {}
        for column in kind.columns:
            if column.key not in cells:
                continue
            raw = cells[column.key]
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                if column.required:
                    errors.append(RowError(line, column.key, "必填", "required"))
                values[column.key] = None
                continue
            try:
                values[column.key] = column.parse(raw)
            except CellError as exc:
                errors.append(RowError(line, column.key, exc.zh, exc.en))
        records.append(Record(line, values))
    if not errors:
        errors += kind.check(records)
    return records, errors


def missing_columns(kind: Kind, present: Iterable[str]) -> list[RowError]:
    have = set(present)
    return [
        RowError(1, c.key, "缺少此列", "the column is missing")
        for c in kind.columns
        if c.required and c.key not in have
    ]
