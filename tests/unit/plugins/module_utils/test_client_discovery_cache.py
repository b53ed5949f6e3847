"""The discovery cache lives in a directory only this user can write (never a predictable /tmp name)."""

import os
import stat

from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import discovery_cache_file


def test_a_private_directory_per_user_and_a_file_per_api_server(tmp_path):
    one = discovery_cache_file("https://127.0.0.1:6443", b"", base=str(tmp_path))
    two = discovery_cache_file("https://api.other.example.com:6443", b"", base=str(tmp_path))
    directory = tmp_path / "openshift_ai_model_serving"
    assert os.path.dirname(one) == os.path.dirname(two) == str(directory)
    assert one != two and os.path.basename(one).startswith("discovery-") and one.endswith(".json")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert discovery_cache_file("https://127.0.0.1:6443", b"", base=str(tmp_path)) == one


def test_a_directory_others_may_write_or_a_link_is_not_used(tmp_path):
    shared = tmp_path / "shared" / "openshift_ai_model_serving"
    shared.mkdir(parents=True)
    shared.chmod(0o777)
    assert discovery_cache_file("https://127.0.0.1:6443", b"", base=str(tmp_path / "shared")) == os.devnull
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "openshift_ai_model_serving").symlink_to(target)
    assert discovery_cache_file("https://127.0.0.1:6443", b"", base=str(tmp_path / "linked")) == os.devnull
    (tmp_path / "file").write_text("")
    assert discovery_cache_file("https://127.0.0.1:6443", b"", base=str(tmp_path / "file")) == os.devnull


def test_a_new_cluster_behind_the_same_address_gets_its_own_cache(tmp_path):
    old = discovery_cache_file("https://127.0.0.1:6443", b"CA of the first cluster", base=str(tmp_path))
    new = discovery_cache_file("https://127.0.0.1:6443", b"CA of the reinstalled cluster", base=str(tmp_path))
    assert old != new


def test_discovery_is_used_by_one_thread_at_a_time():
    """resources_patch writes the entries of a stage from several threads over one client; the dynamic
    client's discovery cache is rebuilt in place on a miss, so lookups must not overlap."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from ansible_collections.openshift_ai.model_serving.plugins.module_utils._client import Client

    state = {"inside": 0, "most": 0}
    guard = threading.Lock()

    class Resources(object):
        def get(self, api_version, kind):
            with guard:
                state["inside"] += 1
                state["most"] = max(state["most"], state["inside"])
            time.sleep(0.01)
            with guard:
                state["inside"] -= 1
            return (api_version, kind)

    class Dynamic(object):
        resources = Resources()

    client = Client.__new__(Client)
    client._dynamic = Dynamic()
    client._discovery_lock = threading.RLock()
    kinds = [("v1", "Kind%d" % i) for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(lambda k: client.resource(*k), kinds)) == kinds
    assert state["most"] == 1
