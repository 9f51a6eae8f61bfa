"""The one family of service errors: what went wrong, as a code for people and a status.

Services raise these and know nothing of HTTP beyond the status each class stands for; one
exception handler (``backend.controllers.answer_error``, registered in ``backend/app.py``) turns
every one of them, and litestar's own errors, into the same JSON body::

    {"status_code": 409, "code": "error.flag_resolved", "detail": "flag 7 is already resolved",
     "field": null, "params": {"flag": 7}}

``code`` is stable and is what clients act on and the PWA words (zh-CN, English); ``params``
fill its template (see ``backend.texts`` for how a parameter's name says how it is shown);
``detail`` is a short English sentence for logs and developers; ``field`` names the culprit in
the request when there is one (then ``extra`` repeats it as litestar does:
``[{"key": field, "message": ...}]``).

A caller asking for something outside their scope gets ``NotFound``, exactly as if it did not
exist, never ``Forbidden``: ids of other customers cannot be probed.
"""

from __future__ import annotations

from typing import ClassVar

from backend.texts import Param, Params, TextCode


class ErrorCode(TextCode):
    # answers of the framework itself (a bad body or parameter, no token, a wrong role, …)
    INVALID_REQUEST = "error.invalid_request"
    UNAUTHENTICATED = "error.unauthenticated"
    FORBIDDEN = "error.forbidden"
    NOT_FOUND = "error.not_found"
    METHOD_NOT_ALLOWED = "error.method_not_allowed"
    TOO_MANY_REQUESTS = "error.too_many_requests"
    HTTP = "error.http"  # any other status: {status}
    # logging in
    WRONG_CREDENTIALS = "error.wrong_credentials"
    REFRESH_TOKEN_UNKNOWN = "error.refresh_token_unknown"
    REFRESH_TOKEN_EXPIRED = "error.refresh_token_expired"
    REFRESH_TOKEN_REUSED = "error.refresh_token_reused"
    USER_INACTIVE = "error.user_inactive"
    REFRESH_TOKEN_MISSING = "error.refresh_token_missing"
    TOTP_REQUIRED = "error.totp_required"  # the password was right: now the second factor
    WRONG_TOTP_CODE = "error.wrong_totp_code"
    LOCKED = "error.locked"  # too many failed attempts: {retry_after} seconds
    TOTP_ENROLMENT_REQUIRED = "error.totp_enrolment_required"
    TOTP_ENROLMENT_STATE = "error.totp_enrolment_state"  # enrolled already / none in progress
    WRONG_PASSWORD = "error.wrong_password"
    PASSWORD_REJECTED = "error.password_rejected"  # {rule}: too_short, common, like_username, …
    # no such object (for this caller)
    METER_NOT_FOUND = "error.meter_not_found"
    CUSTOMER_NOT_FOUND = "error.customer_not_found"
    ACCOUNT_NOT_FOUND = "error.account_not_found"
    BILL_NOT_FOUND = "error.bill_not_found"
    READING_NOT_FOUND = "error.reading_not_found"
    CORRECTION_NOT_FOUND = "error.correction_not_found"
    FLAG_NOT_FOUND = "error.flag_not_found"
    PHOTO_NOT_FOUND = "error.photo_not_found"
    INSPECTOR_NOT_FOUND = "error.inspector_not_found"
    BOOK_NOT_FOUND = "error.book_not_found"
    TASK_NOT_FOUND = "error.task_not_found"
    AREA_NOT_FOUND = "error.area_not_found"
    REPAIR_JOB_NOT_FOUND = "error.repair_job_not_found"
    OUTAGE_NOT_FOUND = "error.outage_not_found"
    COMMAND_NOT_FOUND = "error.command_not_found"
    BATCH_NOT_FOUND = "error.batch_not_found"
    # key accounts (backend/keyaccounts)
    VISIT_NOT_FOUND = "error.visit_not_found"
    PROFILE_CHANGED = "error.profile_changed"  # someone saved first: {version} is current
    RULE_INVALID = "error.rule_invalid"  # {klass}: {reason} (unknown_field, unknown_op, …)
    VISIT_CLOSED = "error.visit_closed"  # a cancelled visit is not checked in
    CLIENT_ID_REUSED = "error.client_id_reused"  # the same id for another request
    NO_MANAGER = "error.no_manager"  # the customer has no manager to write to
    DOCUMENT_TOO_LARGE = "error.document_too_large"  # {size} over {limit} bytes
    DOCUMENT_TYPE_REFUSED = "error.document_type_refused"  # not a PDF, JPEG, PNG or WebP
    DOCUMENT_NOT_FOUND = "error.document_not_found"  # {document}
    # organisation units (backend/field/grids, R110)
    ORG_UNIT_INVALID = "error.org_unit_invalid"  # {reason}: parent_level, code_taken, not_district
    # a value that parses but makes no sense
    NOT_ONE_OF = "error.not_one_of"
    BAD_TIME = "error.bad_time"
    TIME_ZONE_MISSING = "error.time_zone_missing"
    YEAR_OUT_OF_RANGE = "error.year_out_of_range"
    BAD_DATE = "error.bad_date"
    BAD_CYCLE = "error.bad_cycle"
    END_BEFORE_START = "error.end_before_start"
    RANGE_TOO_LONG = "error.range_too_long"
    IN_THE_FUTURE = "error.in_the_future"
    CLOCK_AHEAD = "error.clock_ahead"
    NOT_ON_EARTH = "error.not_on_earth"
    RADIUS_OUT_OF_RANGE = "error.radius_out_of_range"
    ACCURACY_INVALID = "error.accuracy_invalid"
    REGISTERS_UNREADABLE = "error.registers_unreadable"
    TOTAL_REQUIRED = "error.total_required"
    METER_REMOVED = "error.meter_removed"
    METER_NOT_OF_CUSTOMER = "error.meter_not_of_customer"
    METER_CHECK_NEEDS_METER = "error.meter_check_needs_meter"
    METER_LISTED_TWICE = "error.meter_listed_twice"
    PHOTO_NOT_UPLOADED = "error.photo_not_uploaded"
    PHOTO_EMPTY = "error.photo_empty"
    PHOTO_TOO_LARGE = "error.photo_too_large"
    PHOTO_TYPE_REFUSED = "error.photo_type_refused"
    PHOTO_NOT_AN_IMAGE = "error.photo_not_an_image"
    PHOTO_TYPE_MISMATCH = "error.photo_type_mismatch"
    CORRECTION_OF_CORRECTION = "error.correction_of_correction"
    CORRECTION_REGISTERS = "error.correction_registers"
    CUSTOMERS_PAY_BY_ORDER = "error.customers_pay_by_order"
    CHANNEL_CONFIRMED_BY_PROVIDER = "error.channel_confirmed_by_provider"
    # the request clashes with the object's state
    CLIENT_ID_TAKEN = "error.client_id_taken"
    RESEND_DIFFERS = "error.resend_differs"
    READING_EXISTS = "error.reading_exists"
    READING_IMMUTABLE = "error.reading_immutable"
    DECISION_IMMUTABLE = "error.decision_immutable"
    CORRECTION_PENDING = "error.correction_pending"
    CORRECTION_APPROVED = "error.correction_approved"
    CORRECTION_REJECTED = "error.correction_rejected"
    DECIDED_CONCURRENTLY = "error.decided_concurrently"
    HOLD_NOT_FOUND = "error.hold_not_found"
    HOLD_DECIDED = "error.hold_decided"  # {hold} {status}: released or rejected already
    OWN_CORRECTION = "error.own_correction"
    FLAG_RESOLVED = "error.flag_resolved"
    TASK_DONE = "error.task_done"
    TASK_CANCELLED = "error.task_cancelled"
    REPAIR_JOB_FINISHED = "error.repair_job_finished"
    OUTAGE_CANCELLED = "error.outage_cancelled"
    OUTAGE_ENDED = "error.outage_ended"
    PLACEMENT_BEFORE_LAST = "error.placement_before_last"  # {since}: a meter moves forward only
    DRILL_UNAVAILABLE = "error.drill_unavailable"  # no simulated meters to cut (not the demo)
    COMMAND_NEEDS_REASON = "error.command_needs_reason"
    METER_HAS_NO_AGENT = "error.meter_has_no_agent"
    METER_BUSY = "error.meter_busy"
    RELAY_REFUSES = "error.relay_refuses"
    COMMAND_STATE = "error.command_state"
    BATCH_NEEDS_NO_APPROVAL = "error.batch_needs_no_approval"
    BATCH_APPROVED = "error.batch_approved"
    BATCH_REJECTED = "error.batch_rejected"
    FOUR_EYES = "error.four_eyes"
    # one disconnect policy for every disconnect (backend/commands/decisions.py)
    OVERRIDE_REQUIRED = "error.override_required"  # {meters, blocked_by}
    SUPERVISOR_OVERRIDE_REQUIRED = "error.supervisor_override_required"  # {meters, blocked_by}
    SUPERVISOR_REQUIRED = "error.supervisor_required"  # a protected customer's override
    COMMAND_CHANGED = "error.command_changed"  # {command, state}: compare-and-set lost
    BATCH_DECIDED_CONCURRENTLY = "error.batch_decided_concurrently"  # {batch}
    COMMAND_IN_BATCH = "error.command_in_batch"  # {command, batch}
    COMMAND_NOT_RETRYABLE = "error.command_not_retryable"  # {command, state}
    COMMAND_RETRIED = "error.command_retried"  # {command}
    PAYMENT_IN_PROGRESS = "error.payment_in_progress"
    IDEMPOTENCY_KEY_REUSED = "error.idempotency_key_reused"
    # online payments (backend/prepaid/payments)
    PAYMENTS_OFF = "error.payments_off"
    PAYMENT_ORDER_NOT_FOUND = "error.payment_order_not_found"
    PAYMENT_PROVIDER_NOT_FOUND = "error.payment_provider_not_found"
    STATEMENT_NOT_TEXT = "error.statement_not_text"
    STATEMENT_INVALID = "error.statement_invalid"
    # delivery receipts pushed by notice providers (backend/prepaid/channels)
    RECEIPT_CHANNEL_NOT_CONFIGURED = "error.receipt_channel_not_configured"  # {channel}
    RECEIPT_NOT_GENUINE = "error.receipt_not_genuine"  # {channel}: token or signature wrong
    # tariff assignments (backend/tariffs)
    TARIFF_SCHEDULE_NOT_FOUND = "error.tariff_schedule_not_found"  # {schedule}
    TARIFF_NOT_IN_FORCE = "error.tariff_not_in_force"  # {schedule} {day}
    TARIFF_CATEGORY_MISMATCH = "error.tariff_category_mismatch"  # {schedule} {category}
    TARIFF_ASSIGNMENT_EXISTS = "error.tariff_assignment_exists"  # {day} {schedule}
    # 95598 work orders (backend/servicedesk/orders)
    ORDER_NOT_FOUND = "error.order_not_found"  # {order}
    ORDER_KEY_REUSED = "error.order_key_reused"  # an Idempotency-Key already used for another
    ORDER_CHANGED = "error.order_changed"  # {order, version}: someone acted first; reload
    ORDER_CLOSED = "error.order_closed"  # {order}
    ORDER_NOT_CLOSED = "error.order_not_closed"  # {order}: rate or visit after closing
    ORDER_RATED = "error.order_rated"  # {order}
    RETURN_VISIT_DONE = "error.return_visit_done"  # {order}
    ORDER_NOT_YOURS = "error.order_not_yours"  # {order, node, role}: neither owner nor the role
    NODE_DONE_BY_OTHER = "error.node_done_by_other"  # {order, node, done_by}
    ORDER_LINKED_TO_OUTAGE = "error.order_linked_to_outage"  # {order, outage}
    ORDER_HAS_NO_CUSTOMER = "error.order_has_no_customer"  # {order}: a field task needs one
    ORDER_HAS_NO_METER = "error.order_has_no_meter"  # {order}: a meter command needs one
    # the customer's lifecycle after energisation (backend/expansion/changes)
    CHANGE_NOT_FOUND = "error.change_not_found"  # {change}
    CHANGE_KEY_REUSED = "error.change_key_reused"  # an Idempotency-Key used for another change
    CHANGE_PENDING = "error.change_pending"  # {change, kind}: one open change of a kind at once
    CHANGE_DECIDED = "error.change_decided"  # {change, status}: approved or rejected already
    CHANGE_NO_EFFECT = "error.change_no_effect"  # {category}: the account is that already
    CHANGE_IN_FUTURE = "error.change_in_future"  # {day}: effective later than today
    CHANGE_BEFORE_LAST = "error.change_before_last"  # {day}: not after the last change
    CATEGORY_SHARED = "error.category_shared"  # {customer}: the customer has other accounts
    ACCOUNT_CLOSED = "error.account_closed"  # {account}: 销户 done; nothing more is accepted
    ACCOUNT_IN_ARREARS = "error.account_in_arrears"  # {account, balance_fen}: pay first
    SUSPENSION_LENGTH = "error.suspension_length"  # {days, min_days, max_days}: 暂停 limits
    NOT_SUSPENDED = "error.not_suspended"  # {day}: no applied suspension to end on that day
    CHANGE_SAME = "error.change_same"  # {value}: the account has that already (name, kVA)
    TEMPORARY_END = "error.temporary_end"  # {day, max_day}: the last day, today to 3 years on
    NO_CAPACITY = "error.no_capacity"  # {account}: no contracted kVA (not a two-part account)
    # the operators' knowledge base (backend/servicedesk/kb)
    KB_ARTICLE_NOT_FOUND = "error.kb_article_not_found"  # {article}
    KB_ARTICLE_CHANGED = "error.kb_article_changed"  # {article, version}: saved by another
    KB_QUERY_INVALID = "error.kb_query_invalid"  # {reason}: empty, too_long, control, terms
    USER_NOT_FOUND = "error.user_not_found"  # {user}
    WRONG_ROLE_FOR_TASK = "error.wrong_role_for_task"  # {user, role}
    # business expansion (backend/expansion)
    APPLICATION_NOT_FOUND = "error.application_not_found"  # {application}
    APPLICATION_KEY_REUSED = "error.application_key_reused"  # Idempotency-Key, another body
    APPLICATION_MOVED = "error.application_moved"  # {application, step}: someone moved it first
    APPLICATION_CLOSED = "error.application_closed"  # {application}
    APPLICATION_WITHDRAWN = "error.application_withdrawn"  # {application}: takes no more steps
    DOCUMENTS_MISSING = "error.documents_missing"  # {missing}: acceptance waits for them
    STEP_NOT_YOURS = "error.step_not_yours"  # {step, role}: another role works this step
    STEP_NEEDS_ITS_ACTION = "error.step_needs_its_action"  # {step}: survey / energise
    CATEGORY_NOT_FOR_TYPE = "error.category_not_for_type"  # {category, type}
    INCREASE_NEEDS_CUSTOMER = "error.increase_needs_customer"  # 增容 is for an existing one
    METER_ID_TAKEN = "error.meter_id_taken"  # {meter}: already a customer's meter
    METER_BOX_CODE_TAKEN = "error.meter_box_code_taken"  # {box}: a box of another area
    AGENT_NOT_FOUND = "error.agent_not_found"  # {agent}
    # limits before decoding (backend/system/limits.py)
    BODY_TOO_LARGE = "error.body_too_large"  # {limit_bytes}
    BODY_TOO_DEEP = "error.body_too_deep"  # {limit}: nesting levels
    BODY_NOT_UTF8 = "error.body_not_utf8"  # {byte}: offset of the first bad byte


class ServiceError(Exception):
    """Base of the family. ``detail`` is English for logs; ``code`` and ``params`` are for
    people (the PWA words them); ``field`` names the part of the request at fault."""

    status: ClassVar[int] = 400

    def __init__(
        self, code: ErrorCode, detail: str, *, field: str | None = None, **params: Param
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.field = field
        self.params: Params = params


class Invalid(ServiceError):
    """400: well-formed, but makes no sense (a date that is not one, an end before a start)."""

    status = 400


class Unauthorised(ServiceError):
    """401: who is calling is not established (answered with ``WWW-Authenticate: Bearer``)."""

    status = 401


class Forbidden(ServiceError):
    """403: the caller is known and the object visible, but this act is not theirs to do."""

    status = 403


class NotFound(ServiceError):
    """404: no such object *for this caller*: absent, or outside their scope."""

    status = 404


class NotAllowed(ServiceError):
    """405: the object exists but this is never done to it (a confirmed reading is not
    changed)."""

    status = 405


class Conflict(ServiceError):
    """409: the request clashes with the object's current state (retry or choose otherwise)."""

    status = 409


class TooManyRequests(ServiceError):
    """429: too many attempts; ``params["retry_after"]`` seconds until the next may succeed
    (also answered as the ``Retry-After`` header)."""

    status = 429


class TooLarge(ServiceError):
    """413: the upload is larger than allowed."""

    status = 413


class UnsupportedMedia(ServiceError):
    """415: the upload is of a type not accepted."""

    status = 415


class Unprocessable(ServiceError):
    """422: cannot be done as asked (an idempotency key reused for another request)."""

    status = 422


FAMILY: tuple[type[ServiceError], ...] = (
    Invalid,
    Unauthorised,
    Forbidden,
    NotFound,
    NotAllowed,
    Conflict,
    TooLarge,
    UnsupportedMedia,
    Unprocessable,
)
