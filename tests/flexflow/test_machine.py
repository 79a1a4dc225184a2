"""Machine model: presets, topology files, routes, errors."""

import json

import pytest

from dawnlab.errors import DataError
from dawnlab.flexflow import Machine, MachineError


def test_presets_follow_the_papers_clusters():
    p = Machine.preset("p100x16")
    assert p.num_devices == 16 and {d.kind for d in p.devices} == {"P100"}
    assert [p.links[k].bandwidth for k in p.route(0, 3)] == [20e9]          # NVLink in a node
    assert [p.links[k].bandwidth for k in p.route(0, 15)] == [20e9, 12.5e9, 12.5e9, 20e9]  # 100 Gb/s IB
    k = Machine.preset("k80x64")
    assert k.num_devices == 64 and min(k.links[i].bandwidth for i in k.route(0, 63)) == 7e9  # 56 Gb/s
    h = Machine.preset("h100x8")
    assert h.num_devices == 8 and len(h.route(0, 7)) == 2


def test_transfer_time_is_cut_through_over_the_bottleneck_link():
    # gpu2 -> nic0 -> switch -> nic2 -> gpu9: four hops' latencies (2 + 5 + 5 + 2 us) and
    # the bytes once over the slowest link (12.5 GB/s InfiniBand), not once per hop
    p = Machine.preset("p100x16")
    nbytes = 1e8
    assert len(p.route(2, 9)) == 4
    assert p.transfer_time(2, 9, nbytes) == pytest.approx(2 * 2e-6 + 2 * 5e-6 + nbytes / 12.5e9)
    assert p.transfer_time(2, 3, nbytes) == pytest.approx(2e-6 + nbytes / 20e9)
    assert p.transfer_time(3, 3, nbytes) == 0


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_topology_file_round_trip(tmp_path, suffix):
    m = Machine.preset("p100x16")
    path = tmp_path / f"m{suffix}"
    m.save(path)
    again = Machine.from_file(path)
    assert again.devices == m.devices and again.links == m.links
    assert all(again.route(i, j) == m.route(i, j) for i in range(16) for j in range(16))


def test_topology_errors(tmp_path):
    spec = Machine.preset("p100x4").to_dict()
    bad = dict(spec, devices=spec["devices"] + [{"name": "x", "type": "tpu"}])
    with pytest.raises(MachineError, match="type is one of"):
        Machine.from_dict(bad)
    with pytest.raises(MachineError, match="'links'"):
        Machine.from_dict({k: v for k, v in spec.items() if k != "links"})
    cut = dict(spec, links=[l for l in spec["links"] if "gpu3" not in (l["a"], l["b"])])
    with pytest.raises(MachineError, match="connecting every pair"):
        Machine.from_dict(cut)
    neg = json.loads(json.dumps(spec))
    neg["links"][0]["bandwidth"] = -1
    with pytest.raises(MachineError, match="positive"):
        Machine.from_dict(neg)
    with pytest.raises(MachineError, match="one of"):
        Machine.preset("tpu-pod")
    with pytest.raises(DataError):
        Machine.from_file(tmp_path / "missing.json")


@pytest.mark.parametrize("where, field, value", [
    ("type", "flops", float("nan")), ("type", "flops", float("inf")), ("type", "memory", -1.0),
    ("type", "mem_bandwidth", 0.0), ("type", "kernel_latency", float("nan")), ("type", "kernel_latency", -1e-6),
    ("link", "latency", float("nan")), ("link", "latency", float("inf")), ("link", "latency", -1.0),
    ("link", "bandwidth", float("inf")), ("link", "bandwidth", "fast"),
])
def test_machine_files_reject_nan_infinite_and_negative_values_naming_the_field(tmp_path, where, field, value):
    spec = Machine.preset("p100x4").to_dict()
    if where == "type":
        spec["device_types"]["P100"][field] = value
    else:
        spec["links"][0][field] = value
    with pytest.raises(MachineError, match=field) as err:
        Machine.from_dict(spec)
    assert ("P100" in str(err.value)) == (where == "type")
    # the same through a file (JSON writes NaN and Infinity, which json reads back)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(spec))
    with pytest.raises(MachineError, match=field):
        Machine.from_file(path)


def test_copy_engine_flag_is_read_validated_and_round_tripped(tmp_path):
    cpu = Machine.preset("cpu2")
    assert [d.copy_engine for d in cpu.devices] == [False, False]  # gloo over TCP: host-driven
    assert all(d.copy_engine for d in Machine.preset("p100x4").devices)  # GPUs have DMA engines
    path = tmp_path / "cpu.json"
    cpu.save(path)
    assert Machine.from_file(path).devices == cpu.devices
    spec = cpu.to_dict()
    spec["device_types"]["cpu"]["copy_engine"] = "no"
    with pytest.raises(MachineError, match="copy_engine"):
        Machine.from_dict(spec)
    # files without the key keep their meaning (a copy engine)
    assert "copy_engine" not in json.dumps(Machine.preset("p100x4").to_dict())


def test_share_groups_and_contention_are_read_validated_and_round_tripped(tmp_path):
    spec = Machine.preset("cpu2").to_dict()
    for d in spec["devices"]:
        d["share"] = "socket0"
    spec["device_types"]["cpu"]["contention"] = 1.7
    m = Machine.from_dict(spec)
    assert [(d.share, d.contention) for d in m.devices] == [("socket0", 1.7)] * 2
    m.save(tmp_path / "m.yaml")
    assert Machine.from_file(tmp_path / "m.yaml").devices == m.devices
    # absent keys: no group, no slowdown (old files keep their meaning)
    assert [(d.share, d.contention) for d in Machine.preset("cpu2").devices] == [("", 1.0)] * 2
    for value in (0.5, float("nan"), float("inf"), -1.0, "fast"):
        bad = json.loads(json.dumps(spec))
        bad["device_types"]["cpu"]["contention"] = value
        with pytest.raises(MachineError, match="contention"):
            Machine.from_dict(bad)
    bad = json.loads(json.dumps(spec))
    bad["devices"][0]["share"] = 3
    with pytest.raises(MachineError, match="share"):
        Machine.from_dict(bad)


def _spec():
    return json.loads(json.dumps(Machine.preset("p100x4").to_dict()))


@pytest.mark.parametrize("change, match", [
    (lambda s: s.update(devices=["gpu0", "gpu1"]), r"'devices\[0\]'.*mapping with keys"),
    (lambda s: s["devices"][1].pop("name"), r"'devices\[1\]'.*\['name', 'type'\]"),
    (lambda s: s["links"][2].pop("b"), r"'links\[2\]'.*\['a', 'b'\]"),
    (lambda s: s.update(links={"a": "gpu0"}), r"'links'.*list of mappings"),
    (lambda s: s.update(device_types=[1]), r"'device_types'.*mapping from type name"),
    (lambda s: s["links"][0].update(duplex="false"), r"duplex'.*true or false.*'false'"),
    (lambda s: s["links"].append(dict(s["links"][0])), r"'links'.*one link per direction.*listed 2 times"),
    (lambda s: s["links"].append({"a": "gpu0", "b": "gpu0", "bandwidth": 1e9}), r"no self-links"),
])
def test_malformed_machine_files_are_errors_naming_the_entry(change, match):
    # found by the outside review: these gave AttributeError/KeyError/TypeError or were accepted
    spec = _spec()
    change(spec)
    with pytest.raises(MachineError, match=match):
        Machine.from_dict(spec)


def test_code_built_devices_and_links_are_validated_too():
    from dawnlab.flexflow.machine import Device, Link

    with pytest.raises(MachineError, match=r"Device\('a'\)\.flops.*finite positive.*nan"):
        Device("a", "g", float("nan"), 1e9, 1e9)
    with pytest.raises(MachineError, match=r"Device\('a'\)\.memory"):
        Device("a", "g", 1e9, 1e9, -1.0)
    with pytest.raises(MachineError, match=r"contention.*>= 1"):
        Device("a", "g", 1e9, 1e9, 1e9, contention=0.5)
    with pytest.raises(MachineError, match=r"copy_engine"):
        Device("a", "g", 1e9, 1e9, 1e9, copy_engine="no")
    with pytest.raises(MachineError, match=r"Link\('a->b'\)\.bandwidth.*nan"):
        Link("a->b", "a", "b", float("nan"), 0.0)
    with pytest.raises(MachineError, match=r"Link\('a->b'\)\.latency.*>= 0"):
        Link("a->b", "a", "b", 1e9, -1.0)
    assert Device("a", "g", 1e9, 1e9, 1e9).kernel_latency == 5e-6  # a valid one is built as before
