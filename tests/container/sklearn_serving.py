"""The scikit-learn container's serving module, for the container's own packages to run.

`sagemaker_sklearn_container.serving` is not published on PyPI; this is its single-model path
as the image runs it (SAGEMAKER_SERVING_MODULE=sagemaker_sklearn_container.serving:main), written
from aws/sagemaker-scikit-learn-container, branch release-1.4-2-py312,
src/sagemaker_sklearn_container/serving.py: import the user module (installing it if needed),
refuse transform_fn beside input_fn/predict_fn/output_fn, build sagemaker-containers'
Transformer from the user's functions (its own defaults otherwise), load the model once per
worker, and hand Transformer.transform to sagemaker-containers' Flask Worker.
Runs only in .venv-container (tests/container/conftest.py).
"""
import importlib

from sagemaker_containers.beta.framework import env, modules, transformer, worker


def _user_module_transformer(user_module):
    model_fn = getattr(user_module, "model_fn", transformer.default_model_fn)
    input_fn = getattr(user_module, "input_fn", None)
    predict_fn = getattr(user_module, "predict_fn", None)
    output_fn = getattr(user_module, "output_fn", None)
    transform_fn = getattr(user_module, "transform_fn", None)
    if transform_fn and (input_fn or predict_fn or output_fn):
        raise ValueError("Cannot use transform_fn implementation with input_fn, predict_fn, "
                         "and/or output_fn")
    if transform_fn is not None:
        return transformer.Transformer(model_fn=model_fn, transform_fn=transform_fn)
    # The image's own defaults differ (numpy decoding, model.predict); a module without them
    # is not what this project serves, so the container library's defaults stand in.
    return transformer.Transformer(model_fn=model_fn, input_fn=input_fn, predict_fn=predict_fn,
                                   output_fn=output_fn)


def import_module(module_name, module_dir):
    try:
        user_module = importlib.import_module(module_name)
    except ImportError:
        user_module = modules.import_module(module_dir, module_name)
    user_module_transformer = _user_module_transformer(user_module)
    user_module_transformer.initialize()
    return user_module_transformer, getattr(user_module, "execution_parameters_fn", None)


app = None


def main(environ, start_response):
    global app
    if app is None:
        serving_env = env.ServingEnv()
        user_module_transformer, execution_parameters_fn = import_module(
            serving_env.module_name, serving_env.module_dir)
        app = worker.Worker(transform_fn=user_module_transformer.transform,
                            module_name=serving_env.module_name,
                            execution_parameters_fn=execution_parameters_fn)
    return app(environ, start_response)
