"""A local iTwin Platform emulator: IMS client-credentials tokens and the iModels thumbnail API.

Tests and ``make run`` talk to it over real HTTP on 127.0.0.1 instead of Bentley's servers.  It
answers exactly as the API contract documents (statuses, error bodies, ``retry-after``,
``x-correlation-id``) and has knobs for every failure a client must survive::

    from devkit.emulator import Emulator, EmulatorConfig

    with Emulator(EmulatorConfig(forbidden=frozenset({imodel_id}))) as emu:
        emu.url, emu.token_url            # PUT {emu.url}/imodels/{id}/thumbnail
        emu.state.fail_next(503, count=2)
        emu.state.uploads[imodel_id]

``python -m devkit.emulator`` runs one from the command line; ``/_emulator/...`` drives it over HTTP.
"""

from devkit.emulator.config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, EmulatorConfig
from devkit.emulator.emulator import Emulator
from devkit.emulator.state import Access, State, Upload

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "Access", "Emulator", "EmulatorConfig", "State", "Upload"]
