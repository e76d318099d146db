import time


def test_upper():
    time.sleep(0.1)
    assert "beta".upper() == "BETA"


def test_join():
    time.sleep(0.1)
    assert "-".join("ab") == "a-b"
