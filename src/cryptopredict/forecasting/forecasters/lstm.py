"""A small LSTM (PyTorch, CPU) reading a window of standardised features, all horizons at once.

The network sees the last ``window`` rows of features up to the origin and outputs one value
per horizon (a multi-output head), trained on a masked squared loss so that each horizon uses
every row whose own target closed before the cut (short horizons are not cut back to the
longest one's embargo). Targets are divided by their per-horizon standard deviation but not
centred, so an output of zero means "no change": an untrained or collapsed network is naive,
which on daily crypto returns is where an honest LSTM tends to end up. The output layer
starts at zero, so epoch 0 *is* naive, and early stopping compares every epoch with it: when
no epoch beats naive on the validation block, the fitted model stays exactly naive
(``best_epoch_ == 0``) instead of keeping weights that fit noise. The same test is then made
per horizon: a horizon whose output does not beat zero on the validation block gets its head
row zeroed, so it forecasts naive while the other horizons keep what they learned.

Reproducible: seeds are set inside ``torch.random.fork_rng`` (the caller's global RNG is left
alone), deterministic algorithms are switched on for the fit, and the thread count is fixed
(``num_threads``) and restored afterwards. The same data, seed and thread count give the same
weights. One thread by default: the network is tiny, and on a shared 2-core machine a second
intra-op thread made a training step about 60x slower (1.2-1.8 ms with one thread, 105-210 ms
with two, batch 64, window 10, hidden 16), OpenMP threads spinning for a busy core. torch is
imported on first use, so importing the model zoo stays cheap.

Artifacts: ``params.json``, the ``state_dict`` via ``torch.save`` (loaded with
``weights_only=True``) and the scalers in an ``.npz`` read with ``allow_pickle=False``.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Self

import numpy as np
import numpy.typing as npt

from cryptopredict.forecasting.forecasters.base import (
    FloatArray,
    ForecastData,
    Forecaster,
    IntArray,
    NotEnoughDataError,
    check_origins,
    resolve_end,
)

if TYPE_CHECKING:
    import torch

STATE_FILE = "lstm_state.pt"
SCALER_FILE = "lstm_scaler.npz"


@functools.cache
def _network_class() -> type[torch.nn.Module]:
    """The network's class, defined on first use so that torch loads only when needed."""
    from torch import nn

    class LSTMNetwork(nn.Module):
        """LSTM over the window, a linear head on the last hidden state.

        The head starts at zero, so the untrained network is exactly the naive forecast.
        """

        def __init__(
            self, n_features: int, hidden_size: int, num_layers: int, n_outputs: int, dropout: float
        ) -> None:
            super().__init__()
            self.lstm = nn.LSTM(
                n_features,
                hidden_size,
                num_layers=num_layers,
                batch_first=True,
                dropout=dropout if num_layers > 1 else 0.0,
            )
            self.head = nn.Linear(hidden_size, n_outputs)
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(x)
            result: torch.Tensor = self.head(out[:, -1])
            return result

    return LSTMNetwork


@contextmanager
def _torch_settings(num_threads: int, deterministic: bool) -> Iterator[None]:
    """Fix torch's thread count (and determinism) for a block, restoring them after."""
    import torch

    threads = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    if threads != num_threads:
        torch.set_num_threads(num_threads)
    if deterministic and not was_deterministic:
        torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        if threads != num_threads:
            torch.set_num_threads(threads)
        if deterministic and not was_deterministic:
            torch.use_deterministic_algorithms(False)


def complete_windows(features: FloatArray, window: int) -> npt.NDArray[np.bool_]:
    """Whether each row ends a run of ``window`` rows with all features finite."""
    finite = np.isfinite(features).all(axis=1)
    bad = np.concatenate([[0], np.cumsum(~finite)])
    ends = np.arange(len(features))
    starts = ends - window + 1
    ok = starts >= 0
    result = np.zeros(len(features), dtype=bool)
    result[ok] = bad[ends[ok] + 1] - bad[starts[ok]] == 0
    return result


class LSTMForecaster(Forecaster):
    """An LSTM from a window of standardised features to every horizon's log return.

    Fit: feature means and deviations come from the complete feature rows before the cut
    only; a sample is a row ``t`` whose ``window`` rows up to ``t`` are complete, and its
    target for horizon ``h`` counts when ``t + h < end``. The last ``validation_fraction`` of
    samples validate (their earlier neighbours' targets reaching into that block are masked
    out of training), Adam trains up to ``max_epochs`` and the weights of the best validation
    epoch are kept (patience ``patience``), epoch 0 (the zero-output, naive network)
    included. The validation block is not refitted on.

    Predict: all origins go through one forward pass. An origin without ``window`` complete
    feature rows at or before it (warm-up, a gap) gets a zero log return, the naive forecast,
    instead of NaN: the engine always has a forecast, and the fallback is the baseline every
    model is judged against, so it cannot flatter the LSTM.

    Args:
        horizons: steps ahead to forecast.
        window: rows of features the network reads per origin.
        hidden_size: LSTM units.
        num_layers: stacked LSTM layers.
        dropout: between stacked layers (ignored with one layer).
        batch_size: samples per gradient step.
        max_epochs: the most passes over the training samples.
        patience: epochs without validation improvement before stopping.
        learning_rate: Adam's step size.
        weight_decay: Adam's L2 penalty.
        validation_fraction: the time-ordered tail of samples used to stop early.
        min_rows: fewest training samples accepted.
        seed: seeds weight initialisation and shuffling.
        num_threads: torch threads during fit and predict (one: see the module docstring).
    """

    kind = "lstm"

    def __init__(
        self,
        horizons: Sequence[int] = (1, 7, 30),
        window: int = 30,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
        batch_size: int = 64,
        max_epochs: int = 60,
        patience: int = 8,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.2,
        min_rows: int = 100,
        seed: int = 0,
        num_threads: int = 1,
    ) -> None:
        super().__init__(horizons)
        if window < 1:
            raise ValueError("window must be at least 1 row")
        if not 0.0 < validation_fraction < 0.5:
            raise ValueError("validation_fraction must lie in (0, 0.5)")
        self.window = window
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.min_rows = min_rows
        self.seed = seed
        self.num_threads = num_threads
        self.network_: torch.nn.Module | None = None
        self.feature_names_: tuple[str, ...] = ()
        self.feature_mean_: FloatArray = np.zeros(0)
        self.feature_std_: FloatArray = np.ones(0)
        self.target_scale_: FloatArray = np.ones(len(self.horizons))
        self.best_epoch_: int = 0
        self.epochs_: int = 0
        self.validation_loss_: float = float("nan")

    def _new_network(self, n_features: int) -> torch.nn.Module:
        network_class = _network_class()
        return network_class(
            n_features, self.hidden_size, self.num_layers, len(self.horizons), self.dropout
        )

    def _standardise(self, features: FloatArray) -> FloatArray:
        scaled: FloatArray = (features - self.feature_mean_) / self.feature_std_
        return scaled

    def fit(self, data: ForecastData, end: int | None = None) -> Self:
        """Train on the windows ending before ``end``, keeping the best validation epoch.

        Raises:
            NotEnoughDataError: fewer than ``min_rows`` samples with a complete window and
                at least one closed target.
            ValueError: the data has no features.
        """
        import torch

        if not data.feature_names:
            raise ValueError("lstm needs features; data.features has no columns")
        stop = resolve_end(data, end)
        features = data.features[:stop]
        complete = np.isfinite(features).all(axis=1)
        columns = [data.horizon_column(h) for h in self.horizons]
        horizons = np.asarray(self.horizons, dtype=np.int64)
        samples = np.flatnonzero(complete_windows(features, self.window))
        samples = samples[samples + horizons[0] < stop]
        if samples.size < self.min_rows or not complete.any():
            raise NotEnoughDataError(
                f"lstm needs at least {self.min_rows} rows with {self.window} complete feature "
                f"rows behind them and a {horizons[0]}-step target closed before the cut, "
                f"got {samples.size}"
            )
        mean = features[complete].mean(axis=0)
        std = features[complete].std(axis=0)
        self.feature_mean_ = mean
        self.feature_std_ = np.where(std > 0, std, 1.0)

        targets = data.targets[samples][:, columns]
        closed = samples[:, None] + horizons[None, :] < stop
        mask = closed & np.isfinite(targets)
        scale = np.array(
            [
                targets[mask[:, j], j].std() if mask[:, j].sum() > 1 else 1.0
                for j in range(len(columns))
            ]
        )
        self.target_scale_ = np.where(scale > 0, scale, 1.0)
        targets = np.where(mask, targets / self.target_scale_, 0.0)

        n_valid = max(1, int(samples.size * self.validation_fraction))
        first_valid = samples[-n_valid]
        train_mask = mask[:-n_valid] & (samples[:-n_valid, None] + horizons[None, :] < first_valid)
        keep = train_mask.any(axis=1)

        scaled = self._standardise(features)
        scaled = np.where(np.isfinite(scaled), scaled, 0.0)
        windows = np.lib.stride_tricks.sliding_window_view(scaled, self.window, axis=0)
        x_all = torch.from_numpy(
            np.ascontiguousarray(windows[samples - self.window + 1].transpose(0, 2, 1))
        ).float()
        y_all = torch.from_numpy(targets).float()
        x_train, y_train = x_all[:-n_valid][keep], y_all[:-n_valid][keep]
        m_train = torch.from_numpy(train_mask[keep]).float()
        x_valid, y_valid = x_all[-n_valid:], y_all[-n_valid:]
        m_valid = torch.from_numpy(mask[-n_valid:]).float()

        with (
            _torch_settings(self.num_threads, deterministic=True),
            torch.random.fork_rng(devices=[]),
        ):
            torch.manual_seed(self.seed)
            network = self._new_network(features.shape[1])
            optimiser = torch.optim.Adam(
                network.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
            )
            generator = torch.Generator().manual_seed(self.seed)
            with torch.no_grad():
                best_loss = float(_masked_mse(network(x_valid), y_valid, m_valid))
            best_state, best_epoch, epoch = copy.deepcopy(network.state_dict()), 0, 0
            for epoch in range(1, self.max_epochs + 1):
                network.train()
                order = torch.randperm(x_train.shape[0], generator=generator)
                for batch in torch.split(order, self.batch_size):
                    optimiser.zero_grad()
                    loss = _masked_mse(network(x_train[batch]), y_train[batch], m_train[batch])
                    torch.autograd.backward(loss)
                    optimiser.step()
                network.eval()
                with torch.no_grad():
                    valid_loss = float(_masked_mse(network(x_valid), y_valid, m_valid))
                if valid_loss < best_loss:
                    best_loss, best_epoch = valid_loss, epoch
                    best_state = copy.deepcopy(network.state_dict())
                elif epoch - best_epoch >= self.patience:
                    break
            network.load_state_dict(best_state)
            network.eval()
            with torch.no_grad():
                error = ((network(x_valid) - y_valid) ** 2 * m_valid).sum(dim=0)
                naive_error = (y_valid**2 * m_valid).sum(dim=0)
                naive_horizons = error >= naive_error
                network.get_parameter("head.weight")[naive_horizons] = 0.0
                network.get_parameter("head.bias")[naive_horizons] = 0.0
        self.network_ = network
        self.feature_names_ = data.feature_names
        self.best_epoch_, self.epochs_, self.validation_loss_ = best_epoch, epoch, best_loss
        self.fitted_ = True
        return self

    def predict(self, data: ForecastData, origins: IntArray) -> FloatArray:
        """One forward pass over every origin with a complete window; zero for the rest."""
        import torch

        self._check_fitted()
        self._check_features(data, self.feature_names_)
        assert self.network_ is not None  # noqa: S101 - set whenever fitted_
        rows = check_origins(data, origins)
        out = np.zeros((rows.size, len(self.horizons)), dtype=np.float64)
        if rows.size == 0:
            return out
        index = rows[:, None] + np.arange(1 - self.window, 1)
        inside = index >= 0
        windows = self._standardise(data.features[np.where(inside, index, 0)])
        usable = inside.all(axis=1) & np.isfinite(windows).all(axis=(1, 2))
        if usable.any():
            x = torch.from_numpy(windows[usable]).float()
            with _torch_settings(self.num_threads, deterministic=False), torch.inference_mode():
                scaled = self.network_(x).double().numpy()
            out[usable] = scaled * self.target_scale_
        return out

    def save(self, directory: Path) -> list[Path]:
        """Write ``params.json``, the ``state_dict`` and the scalers."""
        import torch

        self._check_fitted()
        assert self.network_ is not None  # noqa: S101 - set whenever fitted_
        params = self._write_params(
            directory,
            feature_names=list(self.feature_names_),
            best_epoch=self.best_epoch_,
            epochs=self.epochs_,
            validation_loss=self.validation_loss_,
        )
        state = directory / STATE_FILE
        torch.save(self.network_.state_dict(), state)
        scaler = directory / SCALER_FILE
        with scaler.open("wb") as handle:
            np.savez(
                handle,
                feature_mean=self.feature_mean_,
                feature_std=self.feature_std_,
                target_scale=self.target_scale_,
            )
        return [params, state, scaler]

    @classmethod
    def load(cls, directory: Path) -> Self:
        """Rebuild from the files ``save`` wrote, without unpickling anything."""
        import torch

        params, state = cls._read_params(directory)
        model = cls(**params)
        with np.load(directory / SCALER_FILE, allow_pickle=False) as scaler:
            model.feature_mean_ = scaler["feature_mean"]
            model.feature_std_ = scaler["feature_std"]
            model.target_scale_ = scaler["target_scale"]
        model.feature_names_ = tuple(state["feature_names"])
        model.best_epoch_ = int(state["best_epoch"])
        model.epochs_ = int(state["epochs"])
        model.validation_loss_ = float(state["validation_loss"])
        network = model._new_network(len(model.feature_names_))
        network.load_state_dict(torch.load(directory / STATE_FILE, weights_only=True))
        network.eval()
        model.network_ = network
        model.fitted_ = True
        return model


def _masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the entries whose mask is 1."""
    squared = (prediction - target) ** 2 * mask
    return squared.sum() / mask.sum().clamp(min=1.0)
