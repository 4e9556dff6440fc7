"""The demo district's casework as scripts: who opens which case, what happens to it, and which
24-hour care requests come in, with when each step happens relative to the seed's clock.

Data only; `services.demo.casework` plays them through the use cases as the demo staff. Everything
is fictional. Office work happens on business days at office hours (`Workday`); the care center
takes requests at any hour (`Day`), and the freshest ones arrive minutes before the seed runs
(`Ago`), at whatever hour that is, so their texts fit any hour. Keep each story's steps in time
order and within its program's workflow (config/case_workflows.json); the tests check both.
One piece on purpose, though long: it is a script to read top to bottom, not code to navigate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GASAN = "1154551000"
DOKSAN1 = "1154561000"
SIHEUNG1 = "1154567000"

StaffRole = Literal["counselor", "outreach"]
Preference = Literal["ongi", "kimchi", "mobility"]


# -- when things happen ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Workday:
    """Office work: `ago` business days before the seed's Seoul date, at `hhmm` Seoul time."""

    ago: int
    hhmm: str


@dataclass(frozen=True, slots=True)
class Day:
    """Any hour (the care center never closes): `ago` calendar days before the seed's Seoul
    date, at `hhmm` Seoul time."""

    ago: int
    hhmm: str


@dataclass(frozen=True, slots=True)
class Ago:
    """`minutes` before the seed's clock."""

    minutes: int


When = Workday | Day | Ago


# -- case stories ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Move:
    when: When
    to: str


@dataclass(frozen=True, slots=True)
class Note:
    when: When
    body: str


@dataclass(frozen=True, slots=True)
class Refer:
    """A referral with the resident's consent, taken just before it is recorded."""

    when: When
    program: str
    reason: str
    consent_by: str
    consent_scope: str


@dataclass(frozen=True, slots=True)
class AskClosure:
    when: When
    note: str


@dataclass(frozen=True, slots=True)
class Decide:
    """The demo supervisor's decision on a closure the counselor asked for."""

    when: When
    approve: bool
    note: str


CaseStep = Move | Note | Refer | AskClosure | Decide


@dataclass(frozen=True, slots=True)
class CaseStory:
    """One case, opened by the dong's demo counselor (and assigned to them)."""

    dong: str
    program: str
    opened: When
    steps: tuple[CaseStep, ...] = ()
    priority: str = "normal"
    prefers: Preference | None = None


ONGI_CONSENT = "온기 프로젝트 안부확인을 위한 연락처와 건강 상태 공유"

CASE_STORIES: tuple[CaseStory, ...] = (
    # 가산동: a crisis answered by the care center and referred on to Ongi; a kimchi delivery
    # waiting for closure; a dialysis rider suspended while in hospital; an Ongi case closed.
    CaseStory(
        GASAN,
        "care_center",
        Workday(12, "10:05"),
        priority="high",
        steps=(
            Move(Workday(12, "10:40"), "active"),
            Note(
                Workday(11, "14:20"),
                "보일러 고장으로 난방·온수 끊김. 수리 업체 연계, 수리 때까지 전기난로 지원",
            ),
            Note(
                Workday(8, "11:00"), "보일러 수리 완료 확인. 혼자 지내시며 외출이 거의 없다고 하심"
            ),
            Refer(
                Workday(8, "11:30"),
                "ongi",
                "혼자 지내시고 외부 연락이 드묾, 정기 안부확인 필요",
                "본인",
                ONGI_CONSENT,
            ),
        ),
    ),
    CaseStory(
        GASAN,
        "kimchi",
        Workday(15, "09:40"),
        prefers="kimchi",
        steps=(
            Move(Workday(14, "15:10"), "assessment"),
            Move(Workday(13, "10:00"), "active"),
            Note(Workday(13, "10:05"), "1차 배송 회차 명단에 포함, 5kg 1상자"),
            Note(Workday(4, "16:30"), "배송 완료, 본인 직접 수령"),
            AskClosure(Workday(3, "09:50"), "김치 전달 완료, 이번 시즌 지원 종료"),
        ),
    ),
    CaseStory(
        GASAN,
        "mobility",
        Workday(20, "10:20"),
        priority="high",
        prefers="mobility",
        steps=(
            Move(Workday(19, "14:00"), "assessment"),
            Note(Workday(19, "14:30"), "휠체어 사용, 주 3회(월·수·금) 혈액투석 이동 필요"),
            Move(Workday(17, "11:00"), "active"),
            Note(Workday(5, "09:15"), "폐렴으로 입원, 퇴원 때까지 이동지원 일시 중단"),
            Move(Workday(5, "09:20"), "suspended"),
        ),
    ),
    CaseStory(
        GASAN,
        "ongi",
        Workday(25, "10:00"),
        prefers="ongi",
        steps=(
            Move(Workday(24, "14:00"), "assessment"),
            Note(Workday(24, "14:10"), "1인 가구, 주 1회 전화 안부확인 희망"),
            Move(Workday(22, "10:30"), "active"),
            Note(Workday(12, "15:00"), "다음 달 초 자녀 가족과 합가 예정"),
            AskClosure(Workday(10, "10:00"), "자녀와 합가, 보호자 확인으로 정기 안부확인 불필요"),
            Decide(Workday(9, "16:40"), True, "보호자 연락처 확인, 종결 승인"),
        ),
    ),
    # 독산1동: a new Ongi intake; short-term child care closed; a mobility assessment that
    # refers the rider to kimchi delivery; a fresh kimchi intake.
    CaseStory(
        DOKSAN1,
        "ongi",
        Workday(2, "13:30"),
        prefers="ongi",
        steps=(Note(Workday(2, "13:45"), "동주민센터 추천, 초기 상담 일정 조율 중"),),
    ),
    CaseStory(
        DOKSAN1,
        "care_center",
        Workday(18, "09:10"),
        priority="urgent",
        steps=(
            Move(Workday(18, "09:15"), "active"),
            Note(Workday(18, "17:00"), "보호자 입원으로 손자녀 주간 단기 돌봄 시작"),
            Note(Workday(13, "10:00"), "보호자 퇴원, 가정 돌봄으로 복귀"),
            AskClosure(Workday(12, "11:00"), "단기 돌봄 종료, 보호자 귀가 확인"),
            Decide(Workday(11, "09:30"), True, "돌봄 종료 확인, 종결 승인"),
        ),
    ),
    CaseStory(
        DOKSAN1,
        "mobility",
        Workday(9, "10:00"),
        prefers="mobility",
        steps=(
            Move(Workday(8, "14:00"), "assessment"),
            Note(Workday(8, "14:30"), "보행 보조기 사용, 자격 확인 서류 보완 요청"),
            Refer(
                Workday(7, "10:10"),
                "kimchi",
                "거동이 불편해 김치 수령이 어려움, 배송 대상 추천",
                "본인",
                "김치 배송을 위한 주소와 연락처 제공",
            ),
        ),
    ),
    CaseStory(DOKSAN1, "kimchi", Workday(1, "15:00"), prefers="kimchi"),
    # 시흥1동: an Ongi closure sent back by the supervisor; a care intake after a night call;
    # a rider whose closure waits for a decision; kimchi closed after referring on to Ongi.
    CaseStory(
        SIHEUNG1,
        "ongi",
        Workday(30, "10:00"),
        prefers="ongi",
        steps=(
            Move(Workday(29, "11:00"), "assessment"),
            Move(Workday(27, "14:00"), "active"),
            Note(Workday(20, "10:30"), "AI 안부전화 주 2회 응답, 건강 양호"),
            AskClosure(Workday(8, "15:00"), "건강 양호, 정기 안부확인 종료 제안"),
            Decide(Workday(7, "10:20"), False, "최근 2주 전화 미응답 2회, 종결 보류하고 방문 확인"),
            Note(Workday(6, "16:00"), "방문 결과 감기로 외출 자제 중, 안부확인 유지"),
        ),
    ),
    CaseStory(
        SIHEUNG1,
        "care_center",
        Workday(1, "16:20"),
        priority="high",
        steps=(Note(Workday(1, "16:40"), "야간 돌봄 요청 후속 상담 예정, 보호자 통화 필요"),),
    ),
    CaseStory(
        SIHEUNG1,
        "mobility",
        Workday(14, "09:30"),
        prefers="mobility",
        steps=(
            Move(Workday(13, "11:00"), "assessment"),
            Move(Workday(12, "15:00"), "active"),
            Note(Workday(12, "15:10"), "주 1회 병원 진료 이동 지원"),
            AskClosure(
                Workday(2, "10:40"), "장기요양 등급 판정으로 방문요양 차량 이용, 이동지원 종료"
            ),
        ),
    ),
    CaseStory(
        SIHEUNG1,
        "kimchi",
        Workday(16, "10:00"),
        prefers="kimchi",
        steps=(
            Move(Workday(15, "10:00"), "assessment"),
            Move(Workday(14, "09:30"), "active"),
            Note(Workday(11, "15:20"), "배송 때 체중 감소와 끼니 거름 호소, 건강 이상 관찰"),
            Refer(
                Workday(10, "09:40"),
                "ongi",
                "김치 배송 중 건강 이상 관찰, 정기 안부확인 필요",
                "본인",
                ONGI_CONSENT,
            ),
            AskClosure(Workday(6, "11:00"), "김치 전달 완료, 온기 프로젝트로 연계됨"),
            Decide(Workday(5, "14:00"), True, "전달 완료 확인, 종결 승인"),
        ),
    ),
    # The district plan's other services: a case a dispatched counselor opened on site, and an
    # elder's health & hygiene visits being worked.
    CaseStory(
        DOKSAN1,
        "outreach_dispatch",
        Workday(7, "16:10"),
        priority="high",
        steps=(
            Move(Workday(7, "16:30"), "active"),
            Note(
                Workday(7, "16:40"),
                "동 주민센터 출동 요청으로 방문. 쌓인 우편물, 단전 예고장 확인. 긴급지원 신청 안내",
            ),
        ),
    ),
    CaseStory(
        GASAN,
        "hygiene_care",
        Workday(9, "10:00"),
        steps=(
            Move(Workday(9, "11:00"), "assessment"),
            Move(Workday(8, "10:00"), "active"),
            Note(
                Workday(3, "15:00"),
                "주 1회 목욕·건강확인 방문 중. 다리 부종 관찰되어 보건지소 연계",
            ),
        ),
    ),
)


# -- care stories ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Respond:
    when: When
    by: StaffRole
    note: str


@dataclass(frozen=True, slots=True)
class HandOver:
    """The night shift gives an open request to the dong's counselor."""

    when: When
    by: StaffRole
    note: str


@dataclass(frozen=True, slots=True)
class Outcome:
    when: When
    by: StaffRole
    outcome: str
    note: str


@dataclass(frozen=True, slots=True)
class RegisterAndLink:
    """The counselor registers the person the request was about and links the request."""

    when: When
    then_link: When
    born_by: int  # the latest birth year that fits the story
    household_type: str


@dataclass(frozen=True, slots=True)
class OpenCase:
    """The counselor opens a case for the (linked) resident, with a first note."""

    when: When
    program: str
    note: str


CareStep = Respond | HandOver | Outcome | RegisterAndLink | OpenCase
CareKind = Literal[
    "handled", "answered", "within_deadline", "overdue", "handed_over", "unlinked", "linked"
]


@dataclass(frozen=True, slots=True)
class CareStory:
    """One care request, taken by the dong's demo counselor or outreach worker (night duty)."""

    kind: CareKind
    dong: str
    care_type: str
    channel: str
    urgency: str
    received: When
    by: StaffRole
    summary: str
    about_resident: bool = True  # False: about nobody registered (yet)
    caller_known: bool = False  # the caller left a name and phone (fictional ones are drawn)
    steps: tuple[CareStep, ...] = ()


CARE_STORIES: tuple[CareStory, ...] = (
    CareStory(
        "handled",
        GASAN,
        "emergency_lodging",
        "police",
        "emergency",
        Day(5, "23:40"),
        "outreach",
        "길을 잃고 귀가하지 못한 어르신(치매 의심), 경찰 보호 중 임시 숙소 필요",
        steps=(
            Respond(Day(4, "00:05"), "outreach", "경찰 동행 현장 확인, 임시 숙소(쉼터) 연계"),
            Outcome(
                Day(3, "10:30"), "counselor", "handled", "임시 숙소 2박 후 귀가, 가족 연락 완료"
            ),
        ),
    ),
    CareStory(
        "answered",
        DOKSAN1,
        "elder_care",
        "phone",
        "urgent",
        Day(1, "14:10"),
        "counselor",
        "자녀 출장 중 거동 불편 어르신 식사·복약 도움 요청",
        steps=(
            Respond(Day(1, "15:00"), "counselor", "가정 방문, 식사·복약 확인 후 주간 돌봄 연계 중"),
        ),
    ),
    CareStory(
        "within_deadline",
        GASAN,
        "child_care",
        "phone",
        "urgent",
        Ago(50),
        "outreach",
        "보호자가 갑자기 근무에 불려 나가 초등학생 자녀 돌봄 요청",
    ),
    CareStory(
        "within_deadline",
        SIHEUNG1,
        "meal",
        "phone",
        "normal",
        Ago(20),
        "outreach",
        "실직 후 끼니 해결이 어려운 1인 가구 본인 전화, 도시락 지원 요청",
    ),
    CareStory(
        "overdue",
        SIHEUNG1,
        "crisis",
        "police",
        "emergency",
        Ago(180),
        "outreach",
        "경찰 연락: 가족 다툼 후 귀가를 거부하는 어르신, 긴급 상담 필요",
    ),
    CareStory(
        "overdue",
        GASAN,
        "disability_care",
        "phone",
        "urgent",
        Ago(9 * 60),
        "outreach",
        "활동지원사 결근으로 중증 장애인 돌봄 공백, 보호자 연락 요청",
    ),
    CareStory(
        "handed_over",
        SIHEUNG1,
        "short_term_care",
        "phone",
        "urgent",
        Day(1, "02:10"),
        "outreach",
        "한부모 보호자 응급실 이송, 자녀 두 명 임시 돌봄 필요",
        steps=(
            Respond(Day(1, "02:40"), "outreach", "전화 상담, 보호자 동의로 자녀 임시 돌봄 배치"),
            HandOver(
                Day(1, "08:50"),
                "outreach",
                "야간 응대 후 주간 인계: 오전 중 가정 방문과 보호자 퇴원 일정 확인 필요",
            ),
        ),
    ),
    CareStory(
        "unlinked",
        GASAN,
        "meal",
        "walk_in",
        "normal",
        Day(1, "19:30"),
        "outreach",
        "끼니를 거른 주민 방문, 주소지 미확인",
        about_resident=False,
        caller_known=True,
        steps=(Respond(Day(1, "19:45"), "outreach", "도시락 제공, 신분 확인 후 상담 예약 안내"),),
    ),
    CareStory(
        "linked",
        DOKSAN1,
        "crisis",
        "phone",
        "urgent",
        Day(3, "21:15"),
        "outreach",
        "옆집 어르신이 며칠째 보이지 않고 우편물이 쌓여 있다는 이웃 신고",
        about_resident=False,
        caller_known=True,
        steps=(
            Respond(
                Day(3, "21:50"),
                "outreach",
                "경찰과 함께 방문, 의식 있음. 탈수 증상으로 물과 죽 제공",
            ),
            RegisterAndLink(
                Day(2, "10:10"), then_link=Day(2, "10:20"), born_by=1955, household_type="single"
            ),
            Outcome(
                Day(2, "10:40"), "counselor", "referred", "온기 프로젝트 안부확인 대상으로 연계"
            ),
            OpenCase(Day(2, "10:50"), "ongi", "돌봄 요청 후 등록, 온기 프로젝트 초기 상담 예정"),
        ),
    ),
)
