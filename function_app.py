"""Azure Functions entry point (Python v2 model): a thin shell over ``shared``.

The blob arrives as an SDK-type ``BlobClient`` (not an InputStream), so the pipeline checks the
size from the blob's properties before it downloads anything, and reads the bytes once.  The
re-assert queue's messages (sent with a visibility delay by a delivery that left a send in doubt)
arrive at the second function.
"""

import azure.functions as func
import azurefunctions.extensions.bindings.blob as blob

from shared.delivery import host

app = func.FunctionApp()
host.start()  # settings are validated when the worker loads: a bad one fails here, by name


@app.function_name("thumbnail_drop")
@app.blob_trigger(
    arg_name="client",
    path="%THUMBNAILS_CONTAINER%/{imodelId}/{name}",
    connection="THUMBNAILS_STORAGE",
    source=func.BlobSource.EVENT_GRID,
)
def thumbnail_drop(client: blob.BlobClient, context: func.Context) -> None:
    """Handle one dropped image; a transient failure raises so the host retries the blob.

    ``context`` is the invocation context (the worker passes it to a parameter of that name): its
    invocation id tags every log record of this blob and goes into a dead-letter payload.
    """
    host.handle_blob(client, invocation_id=context.invocation_id)


@app.function_name("thumbnail_reassert")
@app.queue_trigger(arg_name="message", queue_name="%REASSERT_QUEUE%", connection="THUMBNAILS_STORAGE")
def thumbnail_reassert(message: func.QueueMessage, context: func.Context) -> None:
    """PUT an iModel's newest recorded drop once more, after the in-doubt bound; a transient failure
    raises so the host delivers the message again (then to ``{queue}-poison`` after maxDequeueCount)."""
    host.handle_reassert(message.get_body(), invocation_id=context.invocation_id)
