"""remote_write config validation (Prometheus 2.42's rules and defaults) and the segment log on real files."""

from __future__ import annotations

import pytest

from engine.remotewrite.config import parse_remote_write
from engine.remotewrite.segments import SegmentLog, encode_record
from engine.scrape.config import ConfigError
from engine.settings import SettingsError, load_settings


def test_defaults_are_prometheus_ones():
    (cfg,) = parse_remote_write([{"url": "http://10.0.0.1:9009/api/v1/push"}])
    assert cfg.name == "10.0.0.1_9009"
    q = cfg.queue
    assert (q.capacity, q.max_shards, q.min_shards, q.max_samples_per_send) == (2500, 200, 1, 500)
    assert (q.batch_send_deadline, q.min_backoff, q.max_backoff) == (5.0, 0.03, 5.0)
    assert cfg.remote_timeout == 30.0


@pytest.mark.parametrize(("raw", "where"), [
    ([{"url": "ftp://x/"}], "remote_write[0].url"),
    ([{"url": "http://x/", "bearer_token": "a", "basic_auth": {"username": "u"}}], "remote_write[0].bearer_token"),
    ([{"url": "http://x/", "headers": {"Authorization": "x"}}], "remote_write[0].headers.Authorization"),
    ([{"url": "http://x/", "queue_config": {"max_shards": 0}}], "remote_write[0].queue_config.max_shards"),
    ([{"url": "http://x/", "queue_config": {"min_shards": 5, "max_shards": 2}}],
     "remote_write[0].queue_config.min_shards"),
    ([{"url": "http://x/", "queue_config": {"min_backoff": "10s"}}], "remote_write[0].queue_config.min_backoff"),
    ([{"url": "http://x/", "write_relabel_configs": [{"action": "explode"}]}],
     "remote_write[0].write_relabel_configs[0].action"),
    ([{"url": "http://x/", "name": "a"}, {"url": "http://y/", "name": "a"}], "remote_write[1].name"),
    ([{"url": "http://x/", "name": "../etc"}], "remote_write[0].name"),
    ([{"url": "http://x/", "unknown": 1}], "remote_write[0].unknown"),
])
def test_bad_configs_name_the_field(raw, where):
    with pytest.raises(ConfigError) as info:
        parse_remote_write(raw)
    assert info.value.path == where


def test_a_bad_setting_stops_startup_naming_it(tmp_path):
    with pytest.raises(SettingsError, match="REMOTE_WRITE: remote_write\\[0\\].url"):
        load_settings(env={"DATA_DIR": str(tmp_path), "REMOTE_WRITE": "[{url: 'nope'}]"}, dotenv_path=None)
    with pytest.raises(SettingsError, match="WEBSOCKET_BROADCAST_INTERVAL"):
        load_settings(env={"DATA_DIR": str(tmp_path), "WEBSOCKET_BROADCAST_INTERVAL": "-5"}, dotenv_path=None)
    s = load_settings(env={"DATA_DIR": str(tmp_path), "WEBSOCKET_BROADCAST_INTERVAL": "5000"}, dotenv_path=None)
    assert s.websocket_broadcast_interval == 5.0


def test_the_log_survives_a_torn_tail_and_resumes_at_its_position(tmp_path):
    log = SegmentLog(tmp_path)
    log.open()
    for i in range(3):
        log.append(encode_record([(7, 1, b"series%d" % i)], i, i))
    first = log.read(1)[0]
    log.consume(first)
    log.close()
    with open(tmp_path / "00000001.seg", "ab") as f:
        f.write(b"\x10\x00\x00\x00torn")  # a crash in the middle of an append
    again = SegmentLog(tmp_path)
    again.open()
    assert [r.entries[0][2] for r in again.read(10)] == [b"series1", b"series2"]
    assert again.pending() == 2
    again.append(encode_record([(7, 1, b"series3")], 3, 3))  # appends after the cut, readable
    assert [r.entries[0][2] for r in again.read(10)][-1] == b"series3"
