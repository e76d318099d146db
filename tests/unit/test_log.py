"""Package logging: everything under "ptycho", debug file handler for the CLIs."""
import logging

from ptycho import log


def test_get_logger_places_names_under_ptycho():
    assert log.get_logger("ptycho.raw_data").name == "ptycho.raw_data"
    assert log.get_logger("cli.train").name == "ptycho.cli.train"
    assert log.get_logger().name == "ptycho"


def test_log_to_file_captures_debug_only_while_active(tmp_path):
    logger = log.get_logger("test_log")
    path = tmp_path / "sub" / "run.log"
    with log.log_to_file(path):
        logger.debug("inside %d", 1)
    logger.warning("after")
    text = path.read_text()
    assert "DEBUG ptycho.test_log: inside 1" in text and "after" not in text
    assert not any(isinstance(h, logging.FileHandler) for h in logging.getLogger("ptycho").handlers)


def test_configure_console_quiet_hides_info():
    handler = log.configure_console(quiet=True)
    assert handler.level == logging.WARNING
    assert log.configure_console(quiet=False) is handler and handler.level == logging.INFO
    logging.getLogger("ptycho").removeHandler(handler)
    log._console_handler = None
