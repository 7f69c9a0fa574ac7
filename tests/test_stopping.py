import os
import signal

import pytest

from pipeline.errors import Interrupted
from pipeline.run.stopping import stop_on_signals


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_first_signal_sets_the_flag_second_stops_at_once(signum, code):
    before = signal.getsignal(signum)
    with stop_on_signals() as stop:
        assert not stop.requested
        os.kill(os.getpid(), signum)
        assert stop.requested and stop.name == signal.Signals(signum).name
        with pytest.raises(Interrupted) as caught:
            os.kill(os.getpid(), signum)
        assert caught.value.exit_code == code == stop.error("x").exit_code
    assert signal.getsignal(signum) is before
