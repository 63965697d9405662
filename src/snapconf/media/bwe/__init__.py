"""Send-side bandwidth estimation (GCC, draft-ietf-rmcat-gcc-02) from transport-cc feedback."""

from snapconf.media.bwe.config import BweConfig
from snapconf.media.bwe.estimator import BweStats, SendSideEstimator
from snapconf.media.bwe.sent import SentLog

__all__ = ["BweConfig", "BweStats", "SendSideEstimator", "SentLog"]
