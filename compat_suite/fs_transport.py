"""kombu's ``filesystem://`` transport with atomic message files: ``compatfs://``.

The reference side's broker when Redis is unreachable. kombu's own
``filesystem`` channel creates the message file and only then locks and
writes it; a consumer listing the folder in between reads an empty file and
the worker's consumer dies on ``JSONDecodeError``. Here a message is written
to a temporary name the consumer ignores and renamed into place (atomic on
one filesystem). Everything else is kombu's.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".partial-{name}")
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.rename(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


TRANSPORT_ALIASES.setdefault("compatfs", "compat_suite.fs_transport:Transport")
