"""The comparison study: ADSN, Gatys, Lu-Zhu-Wu, microcanonical and the macrocanonical model.

Every method runs on the same VGG-19 (:mod:`maxent_jax.study.methods`), on exemplars whose
floors come from other crops of the same real texture (:mod:`maxent_jax.study.exemplars`), and
is scored on what no method optimises (:mod:`maxent_jax.study.measure`) in tables with
intervals and floors (:mod:`maxent_jax.study.tables`); ``scripts/compare.py`` is its command
line.

Two protocols for the methods that learn parameters while they sample (Lu-Zhu-Wu and the three
macrocanonical presets, :data:`LEARNED`), each its own table row (:func:`rows_of`), both from
the same learning run (same seed, same learned theta):

* **run output** (``METHOD_run``): the learning run's chains after its last iteration, what the
  seed (De Bortoli et al., SIMODS 2021, figures "after 10000 iterations") and Lu, Zhu & Wu show.
  The chains may match the features because theta keeps moving while they run.
* **frozen theta** (``METHOD_frozen``): as many new chains from new starts (ADSN for the
  macrocanonical model, the white noise q for Lu-Zhu-Wu, drawn from ``seed + 1``) after
  ``sample_steps`` Langevin steps of the learned model at its averaged theta_bar
  (:func:`maxent_jax.tasks.sample.sample_model`, what ``maxent-jax sample`` draws; for
  Lu-Zhu-Wu :func:`maxent_jax.baselines.lu_zhu_wu.lzw_model`): a test of the model, not of the
  run.

ADSN, Gatys and the microcanonical descent have one row each.
"""

from maxent_jax.study.earlier import evaluate_results, make_evaluator, markdown_table
from maxent_jax.study.exemplars import (Exemplar, default_exemplars, exemplar_set,
                                        load_exemplars, prepare_exemplar, prepare_exemplars)
from maxent_jax.study.figure import save_samples, write_grid
from maxent_jax.study.measure import (EVAL_NETWORK, RELU_LAYERS, make_activation_fn, measure,
                                      measure_all, psw_levels)
from maxent_jax.study.methods import RUNNERS, run_study
from maxent_jax.study.settings import (LABELS, LEARNED, METHODS, PROTOCOLS, STUDIES,
                                       STUDY_NAMES, Study, learning_iterations, method_of,
                                       protocol_of, rows_of, split_row)
from maxent_jax.study.tables import (PER_SAMPLE, leader_sentence, leaders, protocol_views,
                                     summary_rows, write_tables)

__all__ = [
           "EVAL_NETWORK", "Exemplar", "LABELS", "LEARNED", "METHODS", "PER_SAMPLE", "PROTOCOLS",
           "RELU_LAYERS", "RUNNERS", "STUDIES", "STUDY_NAMES", "Study", "default_exemplars",
           "evaluate_results", "exemplar_set", "leader_sentence", "leaders", "learning_iterations",
           "load_exemplars", "make_activation_fn", "make_evaluator", "markdown_table", "measure",
           "measure_all", "method_of", "prepare_exemplar", "prepare_exemplars", "protocol_of",
           "protocol_views", "psw_levels", "rows_of", "run_study", "save_samples", "split_row",
           "summary_rows", "write_grid", "write_tables",
           ]
