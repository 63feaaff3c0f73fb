"""The evidence pack's readable report, in Chinese: HTML (any browser, no outside request)
and PDF (reportlab, with a CJK TrueType font found on the machine). Both tell the same:
for each finding its timeline, each escalation with its delivery receipts, acknowledgement
and 批示, and the photos with their flags."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

from services.core.accountability.pack import (
    CommitmentFacts,
    EscalationFacts,
    Facts,
    FindingFacts,
)

FONT_NAME = "DubanCJK"
FALLBACK_FONT = "STSong-Light"  # Adobe's CID font: the reader supplies its glyphs
FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
)
STATUS = {
    "reported": "已上报",
    "assigned": "已派遣",
    "accepted": "已签收",
    "submitted": "已提交整改",
    "closed": "已销号",
}
FLAGS = {"early": "拍摄早于派遣", "far": "位置偏离", "unverified_metadata": "无可核验的拍摄信息"}
KIND = {"before": "整改前", "after": "整改后"}
COMMITMENT_STATUS = {
    "on_track": "正常推进",
    "at_risk": "存在风险",
    "overdue": "已逾期",
    "done": "已完成",
}
REVIEW = {"pending": "待审核", "accepted": "已采纳", "returned": "已退回"}


def font(configured: Path | None) -> str:
    """The registered name of the CJK font the PDF uses."""
    if FONT_NAME in pdfmetrics.getRegisteredFontNames():
        return FONT_NAME
    for path in (configured, *FONT_CANDIDATES):
        if path is not None and path.is_file():
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=0))
            return FONT_NAME
    if FALLBACK_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_FONT))
    return FALLBACK_FONT


def _t(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else "—"


def _subject_line(facts: Facts, tz: ZoneInfo) -> str:
    s = facts.subject
    period = f"，{_t(s.since, tz)} 至 {_t(s.until, tz)}" if s.since and s.until else ""
    return f"{facts.title}{period}"


def _receipt_lines(e: EscalationFacts, tz: ZoneInfo) -> list[str]:
    return [
        f"{r.recipient or '—'} · {r.channel} · {r.status} · 发送 {_t(r.sent_at, tz)} · "
        f"送达 {_t(r.delivered_at, tz)} · 打开 {_t(r.opened_at, tz)}"
        for r in e.receipts
    ]


# ---- HTML ----

# The template beside this module: the report quotes what users wrote, so it autoescapes.
_TEMPLATE = (Path(__file__).parent / "templates" / "pack.html").read_text()
_ENV = Environment(autoescape=True)


def html(facts: Facts, tz: ZoneInfo) -> bytes:
    return (
        _ENV.from_string(_TEMPLATE)
        .render(
            subject=_subject_line(facts, tz),
            generated_at=_t(facts.generated_at, tz),
            generated_by=facts.generated_by,
            findings=facts.findings,
            c=facts.commitment,
            commitment_status=COMMITMENT_STATUS,
            review=REVIEW,
            t=lambda v: _t(v, tz),
            receipts=lambda e: _receipt_lines(e, tz),
            status=STATUS,
            flags=FLAGS,
            kind=KIND,
        )
        .encode()
    )


# ---- PDF ----


def _styles(name: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=name, fontSize=9.5, leading=14, wordWrap="CJK")
    return {
        "body": base,
        "h1": ParagraphStyle("h1", parent=base, fontSize=18, leading=26, spaceAfter=8),
        "h2": ParagraphStyle("h2", parent=base, fontSize=13, leading=20, spaceBefore=10),
        "h3": ParagraphStyle("h3", parent=base, fontSize=11, leading=17, spaceBefore=6),
    }


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return Paragraph(escaped, style)


def _table(rows: Sequence[Sequence[str]], style: ParagraphStyle, widths: list[float]) -> Table:
    table = Table([[_p(c, style) for c in row] for row in rows], colWidths=widths)
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
            ]
        )
    )
    return table


def _finding_story(f: FindingFacts, s: dict[str, ParagraphStyle], tz: ZoneInfo) -> list[Flowable]:
    story: list[Flowable] = [_p(f"问题 {f.id}", s["h2"])]
    facts = [
        ("描述", f.description),
        ("类别 / 来源", f"{f.category} / {f.source}"),
        ("地点", f.address or "—"),
        ("责任单位", f.responsible_unit or "—"),
        (
            "状态",
            STATUS.get(f.status, f.status) + (f"（{f.close_reason}）" if f.close_reason else ""),
        ),
        (
            "上报 / 期限 / 销号",
            f"{_t(f.reported_at, tz)} / {_t(f.due_at, tz)} / {_t(f.closed_at, tz)}",
        ),
    ]
    story.append(_table(facts, s["body"], [35 * mm, 135 * mm]))
    story.append(_p("时间线", s["h3"]))
    rows = [("时间", "操作", "状态", "操作人", "说明")] + [
        (
            _t(e.at, tz),
            e.action,
            f"{e.from_status or ''} → {e.to_status or ''}",
            e.actor or "系统",
            e.note or "",
        )
        for e in f.events
    ]
    story.append(_table(rows, s["body"], [30 * mm, 25 * mm, 35 * mm, 30 * mm, 50 * mm]))
    story.append(_p("督办", s["h3"]))
    for e in f.escalations:
        ack = (
            f"{_t(e.acknowledged_at, tz)} {e.acknowledged_by or ''} 批示“{e.instruction}”"
            if e.acknowledged_at
            else "未批示"
        )
        lines = [
            f"第{e.level}级督办 {_t(e.fired_at, tz)} → {e.target_name or '（空缺）'} "
            f"{e.target_title or ''}（{e.target_unit_name}）",
            f"签收批示：{ack}",
            *([f"批示跟踪期限：{_t(e.follow_up_due, tz)}"] if e.follow_up_due else []),
            *(f"送达：{line}" for line in _receipt_lines(e, tz)),
        ]
        story += [_p(line, s["body"]) for line in lines] + [Spacer(1, 3 * mm)]
    if not f.escalations:
        story.append(_p("无督办。", s["body"]))
    story.append(_p("照片", s["h3"]))
    for photo in f.photos:
        flags = "、".join(FLAGS.get(x, x) for x in photo.flags) or "无"
        story.append(
            _p(
                f"{KIND.get(photo.kind, photo.kind)} · 拍摄 {_t(photo.taken_at, tz)} · "
                f"标记：{flags} · SHA-256 {photo.sha256[:16]}…",
                s["body"],
            )
        )
        if photo.data:
            story.append(_image(photo.data))
    if not f.photos:
        story.append(_p("无照片。", s["body"]))
    return story


def _commitment_story(
    c: CommitmentFacts, s: dict[str, ParagraphStyle], tz: ZoneInfo
) -> list[Flowable]:
    accepted = f"（{_t(c.accepted_at, tz)} 验收）" if c.accepted_at else ""
    facts = [
        ("会议", f"{c.held_on.isoformat()} {c.meeting}"),
        ("承诺单位", c.unit),
        ("现状", c.status_quo),
        ("存在问题", c.problems),
        ("目标", c.targets),
        ("措施", c.measures),
        ("完成时限", f"{c.deadline}（{_t(c.due_at, tz)}）"),
        ("责任领导", f"{c.leader_name or '（空缺）'} {c.leader_title or ''}"),
        (
            "状态 / 进度",
            f"{COMMITMENT_STATUS.get(c.status, c.status)} / {c.percent}%{accepted}",
        ),
    ]
    story: list[Flowable] = [_p(f"整改承诺 {c.id}", s["h2"])]
    story.append(_table(facts, s["body"], [35 * mm, 135 * mm]))
    story.append(_p("进展报告", s["h3"]))
    rows = [("上报时间", "上报人", "内容", "进度", "审核")] + [
        (
            _t(p.reported_at, tz),
            p.reported_by or "",
            p.content + (f"（照片 {len(p.photos)} 张）" if p.photos else ""),
            f"{p.percent}%",
            REVIEW.get(p.review, p.review)
            + (f" {_t(p.reviewed_at, tz)} {p.reviewed_by or ''}" if p.reviewed_at else "")
            + (f"：{p.review_note}" if p.review_note else ""),
        )
        for p in c.progress
    ]
    story.append(_table(rows, s["body"], [30 * mm, 25 * mm, 60 * mm, 15 * mm, 40 * mm]))
    for p in c.progress:
        story += [_image(ph.data) for ph in p.photos if ph.data]
    story.append(_p("承诺督办", s["h3"]))
    for e in c.escalations:
        lines = [
            f"承诺第{e.level}级督办 {_t(e.fired_at, tz)} → {e.target_name or '（空缺）'} "
            f"{e.target_title or ''}（{e.target_unit_name}）",
            *(f"送达：{line}" for line in _receipt_lines(e, tz)),
        ]
        story += [_p(line, s["body"]) for line in lines] + [Spacer(1, 3 * mm)]
    if not c.escalations:
        story.append(_p("无督办。", s["body"]))
    return story


def _image(data: bytes) -> Flowable:
    image = Image(io.BytesIO(data))
    scale = min(1.0, (70 * mm) / image.imageWidth, (55 * mm) / image.imageHeight)
    image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
    image.hAlign = "LEFT"
    return image


def pdf(facts: Facts, tz: ZoneInfo, font_path: Path | None) -> bytes:
    s = _styles(font(font_path))
    story: list[Flowable] = [
        _p("督办证据包", s["h1"]),
        _p(f"对象：{_subject_line(facts, tz)}", s["body"]),
        _p(f"生成时间：{_t(facts.generated_at, tz)}　生成人：{facts.generated_by}", s["body"]),
        _p(
            f"共 {len(facts.findings)} 个问题。照片、数据表与本报告一并签名，见 manifest.json。",
            s["body"],
        ),
    ]
    if facts.commitment is not None:
        story += _commitment_story(facts.commitment, s, tz)
    for f in facts.findings:
        story += _finding_story(f, s, tz)
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        title="督办证据包",
        author="duban",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
    )
    doc.build(story)
    return buf.getvalue()
