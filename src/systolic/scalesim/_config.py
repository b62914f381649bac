"""SCALE-Sim 3.0's ``.cfg`` files: every key its ``scale_config.read_conf_file`` reads."""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Config", "ConfigError", "read_config"]


class ConfigError(ValueError):
    """A SCALE-Sim config that is malformed or asks for what the model cannot do, naming the
    key."""


@dataclass(frozen=True)
class Config:
    """The SCALE-Sim settings the reports depend on.

    Attributes
    ----------
    run_name : str
        ``[general] run_name``, the report folder's name.
    rows, cols : int
        ``ArrayHeight`` and ``ArrayWidth``.
    dataflow : {"ws", "os", "is"}
    ifmap_kb, filter_kb, ofmap_kb : int
        SRAM sizes in kB of one-byte words.
    bandwidth_mode : {"CALC", "USER"}
        ``[run_presets] InterfaceBandwidth``.
    ifmap_bandwidth, filter_bandwidth : int
        USER mode: ``[layout] IfmapSRAMBankBandwidth`` and ``FilterSRAMBankBandwidth``, the
        words per cycle fetched from DRAM into the IFMAP and FILTER SRAMs.
    ofmap_bandwidth : int
        USER mode: the first value of ``Bandwidth``, the OFMAP drain's words per cycle.
    """

    run_name: str
    rows: int
    cols: int
    dataflow: str
    ifmap_kb: int
    filter_kb: int
    ofmap_kb: int
    bandwidth_mode: str = "CALC"
    ifmap_bandwidth: int = 10
    filter_bandwidth: int = 10
    ofmap_bandwidth: int = 10


# Keys SCALE-Sim requires, by section; those not in Config are read and checked only.
_INTEGERS = ("ArrayHeight", "ArrayWidth", "IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB",
             "IfmapOffset", "FilterOffset", "OfmapOffset", "ReadRequestBuffer",
             "WriteRequestBuffer")
_LAYOUT_INTEGERS = ("IfmapSRAMBankBandwidth", "IfmapSRAMBankNum", "IfmapSRAMBankPort",
                    "FilterSRAMBankBandwidth", "FilterSRAMBankNum", "FilterSRAMBankPort")


def _get(parser, section, key):
    if not parser.has_section(section):
        raise ConfigError(f"missing section [{section}] (SCALE-Sim requires it)")
    if not parser.has_option(section, key):
        raise ConfigError(f"[{section}] {key}: missing (SCALE-Sim requires it)")
    return parser.get(section, key).strip()


def _integer(parser, section, key, minimum):
    text = _get(parser, section, key)
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"[{section}] {key}: {text!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"[{section}] {key}: must be >= {minimum}, got {value}")
    return value


def _boolean(parser, section, key):
    text = _get(parser, section, key)
    if text.lower() not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ConfigError(f"[{section}] {key}: {text!r} is not a boolean")
    return text.lower() in ("true", "1", "yes", "on")


def read_config(source) -> Config:
    """Read a SCALE-Sim ``.cfg`` file given as a path or as its text.

    Every key SCALE-Sim 3.0 reads must be present and well-formed. Keys the model honours set
    the :class:`Config`; the offsets and request-buffer sizes (which change no report cell)
    are checked and ignored. What the model does not do is refused, naming the key:
    custom layouts, sparsity, Ramulator traces and a
    ``[network_presets]`` section (which crashes SCALE-Sim).

    Raises
    ------
    ConfigError
        Naming the section and key.
    """
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source):
        try:
            text = Path(source).read_text()
        except OSError as error:
            raise ConfigError(f"cannot read {source}: {error.strerror or error}") from None
    elif isinstance(source, str):
        text = source
    else:
        raise TypeError(f"source must be a path or the file's text, not "
                        f"{type(source).__name__}")
    parser = configparser.ConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error as error:
        raise ConfigError(f"not a config file: {error.message.splitlines()[0]}") from None
    run_name = _get(parser, "general", "run_name")
    mode = _get(parser, "run_presets", "InterfaceBandwidth")
    if mode not in ("USER", "CALC"):
        raise ConfigError(f"[run_presets] InterfaceBandwidth: must be USER or CALC, got "
                          f"{mode!r}")
    if _get(parser, "run_presets", "UseRamulatorTrace") == "True":
        raise ConfigError("[run_presets] UseRamulatorTrace: Ramulator traces are not "
                          "supported; set it to False")
    arch = "architecture_presets"
    values = {key: _integer(parser, arch, key, 0 if "Offset" in key else 1) for key in _INTEGERS}
    dataflow = _get(parser, arch, "Dataflow")
    if dataflow not in ("ws", "os", "is"):
        raise ConfigError(f"[{arch}] Dataflow: must be ws, os or is, got {dataflow!r}")
    for key in ("IfmapCustomLayout", "FilterCustomLayout"):
        if _boolean(parser, "layout", key):
            raise ConfigError(f"[layout] {key}: custom layouts are not supported; set it to "
                              "False")
    layout = {key: _integer(parser, "layout", key, 1) for key in _LAYOUT_INTEGERS}
    ofmap_bandwidth = 10
    if mode == "USER":
        for operand in ("Ifmap", "Filter"):
            bandwidth = layout[f"{operand}SRAMBankBandwidth"]
            banks = layout[f"{operand}SRAMBankNum"]
            if bandwidth % banks:
                # SCALE-Sim's read buffer asserts on this.
                raise ConfigError(f"[layout] {operand}SRAMBankBandwidth: {bandwidth} is not a "
                                  f"multiple of {operand}SRAMBankNum ({banks})")
        text = _get(parser, arch, "Bandwidth")
        first = text.split(",")[0].strip()
        if not first.isdigit() or int(first) < 1:
            raise ConfigError(f"[{arch}] Bandwidth: {text!r} does not start with a positive "
                              "integer")
        ofmap_bandwidth = int(first)
    if _get(parser, "sparsity", "SparsitySupport").lower() == "true":
        raise ConfigError("[sparsity] SparsitySupport: sparsity is not supported; set it to "
                          "false")
    if parser.has_section("network_presets"):
        raise ConfigError("[network_presets]: not supported (SCALE-Sim 3.0 crashes on it); "
                          "give the topology with -t")
    return Config(run_name, values["ArrayHeight"], values["ArrayWidth"], dataflow,
                  values["IfmapSramSzkB"], values["FilterSramSzkB"], values["OfmapSramSzkB"],
                  mode, layout["IfmapSRAMBankBandwidth"], layout["FilterSRAMBankBandwidth"],
                  ofmap_bandwidth)
