"""Payment provider adapters, pure: WeChat Pay v3 notifications (signature over
``timestamp\\nnonce\\nbody\\n``, AES-256-GCM resource), Alipay RSA2 notifications, the trade
bill, and the simulated wallet that signs exactly as WeChat Pay does."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from backend.prepaid.payments.providers import Rejected, RejectReason, StatementLine, fen_of_yuan
from backend.prepaid.payments.providers.alipay import AlipayRSA2, content_to_sign
from backend.prepaid.payments.providers.simulated import SimulatedWallet, trade_bill
from backend.prepaid.payments.providers.wechat import BillError, parse_trade_bill

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def wallet(tmp_path_factory: pytest.TempPathFactory) -> SimulatedWallet:
    return SimulatedWallet.load(tmp_path_factory.mktemp("wallet"))


def paid(wallet: SimulatedWallet, **kw: object) -> tuple[dict[str, str], bytes]:
    args: dict[str, object] = dict(
        order_no="ML20261201ABCDEF", amount_fen=5_000, paid_at=NOW, transaction_id="4200000001",
        now=NOW,
    )  # fmt: skip
    args.update(kw)
    return wallet.notification(**args)  # type: ignore[arg-type]


def reason(call: object) -> RejectReason:
    assert callable(call)
    with pytest.raises(Rejected) as exc:
        call()
    return exc.value.reason


def test_a_signed_notification_of_the_simulated_wallet_verifies_and_decrypts(
    wallet: SimulatedWallet,
) -> None:
    headers, body = paid(wallet)
    conf = wallet.verifier().verify(headers, body, NOW)
    assert (conf.order_no, conf.amount_fen, conf.provider_txn_id) == (
        "ML20261201ABCDEF", 5_000, "4200000001",
    )  # fmt: skip
    assert conf.paid_at == NOW
    assert conf.replay_key == f"{headers['Wechatpay-Timestamp']}:{headers['Wechatpay-Nonce']}"
    envelope = json.loads(body)
    assert envelope["resource"]["algorithm"] == "AEAD_AES_256_GCM"
    assert "ML20261201ABCDEF" not in body.decode()  # the order is inside the ciphertext


def test_the_signature_covers_timestamp_nonce_and_the_exact_body(
    wallet: SimulatedWallet,
) -> None:
    headers, body = paid(wallet)
    message = f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n".encode()
    wallet.private_key.public_key().verify(
        base64.b64decode(headers["Wechatpay-Signature"]), message + body + b"\n",
        padding.PKCS1v15(), hashes.SHA256(),
    )  # fmt: skip
    v = wallet.verifier()
    assert reason(lambda: v.verify(headers, body + b" ", NOW)) is RejectReason.BAD_SIGNATURE
    other = {**headers, "Wechatpay-Nonce": "X" + headers["Wechatpay-Nonce"][1:]}
    assert reason(lambda: v.verify(other, body, NOW)) is RejectReason.BAD_SIGNATURE


def test_a_notification_signed_by_another_key_is_refused(
    wallet: SimulatedWallet, tmp_path: Path
) -> None:
    forger = SimulatedWallet.load(tmp_path)
    headers, body = paid(forger)
    headers["Wechatpay-Serial"] = wallet.serial  # claims to be the platform key
    assert reason(lambda: wallet.verifier().verify(headers, body, NOW)) is (
        RejectReason.BAD_SIGNATURE
    )


@pytest.mark.parametrize("header", ["Wechatpay-Signature", "Wechatpay-Serial", "Wechatpay-Nonce"])
def test_a_notification_missing_a_signature_header_is_refused(
    wallet: SimulatedWallet, header: str
) -> None:
    headers, body = paid(wallet)
    del headers[header]
    assert reason(lambda: wallet.verifier().verify(headers, body, NOW)) is (
        RejectReason.BAD_SIGNATURE
    )


def test_a_notification_signed_more_than_five_minutes_ago_is_refused_as_stale(
    wallet: SimulatedWallet,
) -> None:
    headers, body = paid(wallet)
    later = NOW + timedelta(minutes=5, seconds=1)
    assert reason(lambda: wallet.verifier().verify(headers, body, later)) is RejectReason.STALE
    assert wallet.verifier().verify(headers, body, NOW + timedelta(minutes=4)).amount_fen == 5_000


def test_a_failed_or_other_event_does_not_count_as_paid(wallet: SimulatedWallet) -> None:
    v = wallet.verifier()
    h, b = paid(wallet, trade_state="PAYERROR")
    assert reason(lambda: v.verify(h, b, NOW)) is RejectReason.NOT_PAID
    h, b = paid(wallet, event_type="REFUND.SUCCESS")
    assert reason(lambda: v.verify(h, b, NOW)) is RejectReason.NOT_PAID


def test_a_resource_encrypted_under_another_apiv3_key_does_not_decrypt(
    wallet: SimulatedWallet,
) -> None:
    other = SimulatedWallet(wallet.private_key, b"0" * 32)  # same signer, wrong APIv3 key
    headers, body = paid(other)
    assert reason(lambda: wallet.verifier().verify(headers, body, NOW)) is RejectReason.MALFORMED


def test_the_wechat_answers_are_the_v3_success_and_fail_bodies(wallet: SimulatedWallet) -> None:
    v = wallet.verifier()
    ok = v.accepted()
    assert (ok.status, json.loads(ok.body)) == (200, {"code": "SUCCESS", "message": "成功"})
    bad = v.refused(RejectReason.BAD_SIGNATURE)
    assert bad.status == 401
    assert json.loads(bad.body)["code"] == "FAIL"


# -- Alipay ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alipay_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def alipay_form(key: rsa.RSAPrivateKey, **over: str) -> bytes:
    params = {
        "app_id": "2021000000000001", "notify_type": "trade_status_sync",
        "notify_id": "ac05099524730693a8b330c5ecf72da9786", "charset": "utf-8", "version": "1.0",
        "out_trade_no": "ML20261201ALI001", "trade_no": "2026120122001400000001",
        "trade_status": "TRADE_SUCCESS", "total_amount": "12.30", "subject": "电费充值",
        "gmt_payment": "2026-12-01 12:00:00", "notify_time": "2026-12-01 12:00:01",
        "sign_type": "RSA2", "body": "",
    }  # fmt: skip
    params.update(over)
    sig = key.sign(content_to_sign(params), padding.PKCS1v15(), hashes.SHA256())
    params["sign"] = base64.b64encode(sig).decode()
    return urlencode(params).encode()


def test_the_alipay_string_to_sign_is_sorted_without_sign_sign_type_or_empty_values() -> None:
    params = {"b": "2", "a": "1", "sign": "x", "sign_type": "RSA2", "c": "", "d": "大 乐"}
    assert content_to_sign(params) == "a=1&b=2&d=大 乐".encode()


def test_an_rsa2_signed_alipay_notification_verifies(alipay_key: rsa.RSAPrivateKey) -> None:
    v = AlipayRSA2(alipay_public_key=alipay_key.public_key(), app_id="2021000000000001")
    conf = v.verify({}, alipay_form(alipay_key), NOW)
    assert (conf.order_no, conf.amount_fen) == ("ML20261201ALI001", 1_230)
    assert conf.paid_at == datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 12:00 Beijing
    assert (v.accepted().body, v.refused(RejectReason.REPLAY).body) == (b"success", b"failure")


def test_a_tampered_or_foreign_alipay_notification_is_refused(
    alipay_key: rsa.RSAPrivateKey,
) -> None:
    v = AlipayRSA2(alipay_public_key=alipay_key.public_key(), app_id="2021000000000001")
    tampered = alipay_form(alipay_key).replace(b"total_amount=12.30", b"total_amount=99.30")
    assert reason(lambda: v.verify({}, tampered, NOW)) is RejectReason.BAD_SIGNATURE
    foreign = alipay_form(alipay_key, app_id="2021000000000999")
    assert reason(lambda: v.verify({}, foreign, NOW)) is RejectReason.BAD_SIGNATURE
    rsa1 = alipay_form(alipay_key, sign_type="RSA")
    assert reason(lambda: v.verify({}, rsa1, NOW)) is RejectReason.BAD_SIGNATURE
    waiting = alipay_form(alipay_key, trade_status="WAIT_BUYER_PAY")
    assert reason(lambda: v.verify({}, waiting, NOW)) is RejectReason.NOT_PAID


@pytest.mark.parametrize("text", ["12.345", "-1.00", "1e3", "", "12.", "１２"])
def test_a_provider_amount_that_is_not_exact_yuan_is_refused(text: str) -> None:
    assert reason(lambda: fen_of_yuan(text, "total_amount")) is RejectReason.MALFORMED


def test_yuan_amounts_become_exact_fen() -> None:
    assert [fen_of_yuan(t, "x") for t in ("0.01", "12.3", "100", "100000.00")] == [
        1, 1_230, 10_000, 10_000_000,
    ]  # fmt: skip


# -- the trade bill ----------------------------------------------------------------------------

BILL = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
    "付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,"
    "退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n"
    "`2022-03-21 13:51:31,`wxfdc955f7104ad557,`180023671,`176531292,`,"
    "`420000612032130748613220688,`2021WERUN1647840687637,`oZWaCKXip5njeEiloC4oeOV1TTsk,"
    "`JSAPI,`SUCCESS,`OTHERS,`CNY,`0.01,`0.00,`0,`0,`0.00,`0.00,`,`,`测试,`,`0.00000,"
    "`0.90%,`0.01,`0.00,`\n"
    "`2022-03-21 14:00:00,`wxfdc955f7104ad557,`180023671,`176531292,`,"
    "`420000612032130748613220699,`2021WERUN1647840687637,`oZWaCKXip5njeEiloC4oeOV1TTsk,"
    "`JSAPI,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50000,`R1,`0.01,`0.00,`ORIGINAL,`SUCCESS,"
    "`测试,`,`0.00000,`0.90%,`0.00,`0.01,`\n"
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n"
    "`2,`0.01,`0.01,`0.00,`0.00000,`0.01,`0.01\n"
)


def test_the_published_all_bill_example_parses_to_its_one_payment() -> None:
    lines, skipped = parse_trade_bill(BILL)
    assert skipped == 1  # the refund row
    assert lines == [
        StatementLine(
            order_no="2021WERUN1647840687637", provider_txn_id="420000612032130748613220688",
            amount_fen=1, paid_at=datetime(2022, 3, 21, 5, 51, 31, tzinfo=UTC),
        )
    ]  # fmt: skip


def test_the_simulators_bill_reads_back_as_what_it_was_given() -> None:
    given = [
        StatementLine("ML1", "4200001", 5_000, NOW),
        StatementLine("ML2", "4200002", 12_345, NOW + timedelta(hours=1)),
    ]
    assert parse_trade_bill(trade_bill(given)) == (given, 0)


def test_a_file_that_is_not_a_trade_bill_is_refused_naming_the_line() -> None:
    with pytest.raises(BillError, match="line 1"):
        parse_trade_bill("order,amount\n1,2\n")
    broken = trade_bill([StatementLine("ML1", "4200001", 5_000, NOW)]).replace("`50.00", "`5x")
    with pytest.raises(BillError, match="line 2"):
        parse_trade_bill(broken)
