"""The simulated wallet: a payment provider for the demo and the tests that signs exactly as
WeChat Pay API v3 does, with its own key pair.

Its platform key pair and APIv3 key are generated on first use and kept in the data directory
(``payments-simulator/``, files mode 0600); its notifications are verified by the same
:class:`~backend.prepaid.payments.providers.wechat.WeChatPayV3` code as the real ones. It also
writes its statement in WeChat's trade-bill format, so reconciliation runs on it too.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import secrets
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backend.prepaid.payments.providers import StatementLine
from backend.prepaid.payments.providers.wechat import WeChatPayV3, signed_message

MCHID = "1900000001"  # the simulator's merchant number
APPID = "wxd0000000000demo"
BEIJING = ZoneInfo("Asia/Shanghai")


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


class SimulatedWallet:
    """Holds the simulator's keys; pays orders by producing signed v3 notifications."""

    def __init__(self, private_key: rsa.RSAPrivateKey, apiv3_key: bytes) -> None:
        self.private_key = private_key
        self.apiv3_key = apiv3_key
        der = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.serial = "PUB_KEY_ID_SIM_" + hashlib.sha256(der).hexdigest()[:24].upper()

    @classmethod
    def load(cls, data_dir: Path) -> SimulatedWallet:
        """The simulator's keys from ``data_dir``, made on first use."""
        folder = data_dir / "payments-simulator"
        key_file, v3_file = folder / "platform-private.pem", folder / "apiv3.key"
        if not key_file.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )  # fmt: skip
            with contextlib.suppress(FileExistsError):  # another process made it first
                _write_private(key_file, pem)
        if not v3_file.exists():
            with contextlib.suppress(FileExistsError):
                _write_private(v3_file, secrets.token_hex(16).encode())  # 32 ASCII bytes
        private = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        assert isinstance(private, rsa.RSAPrivateKey)
        return cls(private, v3_file.read_bytes().strip())

    def verifier(self) -> WeChatPayV3:
        return WeChatPayV3(
            platform_key=self.private_key.public_key(), serial=self.serial,
            apiv3_key=self.apiv3_key, mchid=MCHID,
        )  # fmt: skip

    def notification(
        self, *, order_no: str, amount_fen: int, paid_at: datetime, transaction_id: str,
        now: datetime, event_type: str = "TRANSACTION.SUCCESS", trade_state: str = "SUCCESS",
    ) -> tuple[dict[str, str], bytes]:  # fmt: skip
        """The headers and body WeChat Pay would POST for this payment."""
        txn = {
            "appid": APPID, "mchid": MCHID, "out_trade_no": order_no,
            "transaction_id": transaction_id, "trade_type": "JSAPI", "trade_state": trade_state,
            "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": "",
            "success_time": paid_at.astimezone(BEIJING).isoformat(timespec="seconds"),
            "payer": {"openid": "oSIMULATEDWALLET000000000000"},
            "amount": {"total": amount_fen, "payer_total": amount_fen, "currency": "CNY",
                       "payer_currency": "CNY"},
        }  # fmt: skip
        nonce = secrets.token_hex(6)  # 12 characters, as WeChat's
        ciphertext = AESGCM(self.apiv3_key).encrypt(
            nonce.encode(), msgspec.json.encode(txn), b"transaction"
        )
        body = msgspec.json.encode(
            {
                "id": f"EV-{secrets.token_hex(10)}", "create_time": txn["success_time"],
                "resource_type": "encrypt-resource", "event_type": event_type,
                "summary": "支付成功",
                "resource": {
                    "original_type": "transaction", "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": base64.b64encode(ciphertext).decode(),
                    "associated_data": "transaction", "nonce": nonce,
                },
            }
        )  # fmt: skip
        return self.sign(body, now), body

    def sign(self, body: bytes, now: datetime) -> dict[str, str]:
        timestamp, nonce = str(int(now.timestamp())), secrets.token_hex(16).upper()
        signature = self.private_key.sign(
            signed_message(timestamp, nonce, body), padding.PKCS1v15(), hashes.SHA256()
        )
        return {
            "Wechatpay-Timestamp": timestamp, "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": base64.b64encode(signature).decode(),
            "Wechatpay-Serial": self.serial,
            "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        }  # fmt: skip


def trade_bill(lines: list[StatementLine]) -> str:
    """A SUCCESS trade bill (交易账单) in WeChat Pay's format for these payments."""
    header = (
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
        "交易状态,付款银行,货币种类,应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,"
        "订单金额,费率备注"
    )
    rows = [header]
    total = 0
    for ln in lines:
        yuan = f"{ln.amount_fen // 100}.{ln.amount_fen % 100:02d}"
        total += ln.amount_fen
        fields = [
            f"{ln.paid_at.astimezone(BEIJING):%Y-%m-%d %H:%M:%S}", APPID, MCHID, "0", "",
            ln.provider_txn_id, ln.order_no, "oSIMULATEDWALLET000000000000", "JSAPI", "SUCCESS",
            "OTHERS", "CNY", yuan, "0.00", "电费充值", "", "0.00000", "0.60%", yuan, "",
        ]  # fmt: skip
        rows.append(",".join("`" + f for f in fields))
    rows.append("总交易单数,应结订单总金额,手续费总金额,订单总金额")
    sum_yuan = f"{total // 100}.{total % 100:02d}"
    rows.append(f"`{len(lines)},`{sum_yuan},`0.00000,`{sum_yuan}")
    return "\r\n".join(rows) + "\r\n"
