import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "bench: prints a performance figure")


@pytest.fixture(scope="session")
def figures():
    rows: list[str] = []
    yield rows
    print("\n== derivbot benchmark figures ==")
    for r in rows:
        print(r)
