#!/usr/bin/env python3
"""German credit for scripts/bench-train.

  german.py convert CSV DIR   writes DIR/customers.jsonl and DIR/orders.jsonl (standard library only)
  german.py baselines CSV     logistic regression and LightGBM on the same split; prints one JSON line

The mapping: row i (0-based) is customer G{i+1:04d} with the personal columns as attributes, and
one order O{i+1:04d} issued at 2020-01-01T10:00:00Z + i days (strictly increasing, so aval's
holdout, the newest 20% by issued_at, is exactly the last 200 rows) for credit_amount, with a
payment term of duration_in_month x 30 days and the remaining columns as attributes; outcome
blocked for `bad`, approved for `good`. No credit limits or bureau reports. Attribute values are
numbers when the cell is a number, otherwise strings, so aval sees numbers as numbers and
strings as categories; the baselines use exactly those features (strings one-hot).
"""
import csv
import datetime as dt
import json
import os
import sys

TARGET = "creditability"
# CSV column -> attribute key ([a-z0-9_]{1,40}).
CUSTOMER_COLUMNS = {
    "status_of_existing_checking_account": "status_of_existing_checking_account",
    "savings_account_and_bonds": "savings_account_and_bonds",
    "present_employment_since": "present_employment_since",
    "personal_status_and_sex": "personal_status_and_sex",
    "other_debtors_or_guarantors": "other_debtors_or_guarantors",
    "present_residence_since": "present_residence_since",
    "property": "property",
    "age_in_years": "age_in_years",
    "housing": "housing",
    "job": "job",
    "number_of_people_being_liable_to_provide_maintenance_for": "dependents",
    "telephone": "telephone",
    "foreign_worker": "foreign_worker",
}
ORDER_COLUMNS = {
    "purpose": "purpose",
    "credit_history": "credit_history",
    "installment_rate_in_percentage_of_disposable_income": "installment_rate",
    "number_of_existing_credits_at_this_bank": "number_of_existing_credits_at_this_bank",
    "other_installment_plans": "other_installment_plans",
}
# Order fields that come from columns (the rest of the order's features).
AMOUNT, DURATION = "credit_amount", "duration_in_month"
TRAIN_ROWS = 800
START = dt.datetime(2020, 1, 1, 10, 0, 0, tzinfo=dt.timezone.utc)


def value(cell):
    cell = cell.strip()
    try:
        number = float(cell)
    except ValueError:
        return cell
    return int(number) if number.is_integer() else number


def rows(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        used = set(CUSTOMER_COLUMNS) | set(ORDER_COLUMNS) | {AMOUNT, DURATION, TARGET}
        missing = used - set(reader.fieldnames)
        unused = set(reader.fieldnames) - used
        if missing or unused:
            sys.exit(f"german.py: columns missing {sorted(missing)}, unmapped {sorted(unused)}")
        return list(reader)


def convert(path, out):
    data = rows(path)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "customers.jsonl"), "w") as customers, open(
        os.path.join(out, "orders.jsonl"), "w"
    ) as orders:
        for i, row in enumerate(data):
            customer_id = f"G{i + 1:04d}"
            customers.write(json.dumps({
                "id": customer_id,
                "attributes": {key: value(row[col]) for col, key in CUSTOMER_COLUMNS.items()},
            }) + "\n")
            outcome = {"bad": "blocked", "good": "approved"}[row[TARGET].strip()]
            orders.write(json.dumps({
                "id": f"O{i + 1:04d}",
                "customer_id": customer_id,
                "issued_at": (START + dt.timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "amount": int(row[AMOUNT]),
                "payment_term_days": int(row[DURATION]) * 30,
                "attributes": {key: value(row[col]) for col, key in ORDER_COLUMNS.items()},
                "outcome": outcome,
            }) + "\n")
    blocked = sum(r[TARGET].strip() == "bad" for r in data)
    print(f"german.py: {len(data)} customers and orders ({blocked} blocked) in {out}")


def baselines(path):
    import time
    import warnings

    try:
        import lightgbm as lgb
    except ImportError as error:  # compared with what can be installed; said loudly
        lgb, lightgbm_missing = None, str(error)
    import numpy as np
    import pandas as pd
    import sklearn
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    warnings.filterwarnings("ignore")
    data = rows(path)
    # The features aval gets: the attributes as uploaded, the amount, the term in days.
    frame = pd.DataFrame([
        {
            **{key: value(r[col]) for col, key in CUSTOMER_COLUMNS.items()},
            **{key: value(r[col]) for col, key in ORDER_COLUMNS.items()},
            "amount": float(r[AMOUNT]),
            "payment_term_days": float(int(r[DURATION]) * 30),
        }
        for r in data
    ])
    y = np.array([r[TARGET].strip() == "bad" for r in data], dtype=int)  # 1 = blocked
    categorical = [c for c in frame.columns if frame[c].map(lambda v: isinstance(v, str)).any()]
    numeric = [c for c in frame.columns if c not in categorical]
    frame[numeric] = frame[numeric].astype(float)
    # The same split as aval's: issued_at increases with the row, the newest 20% are held out.
    x_train, x_hold = frame.iloc[:TRAIN_ROWS], frame.iloc[TRAIN_ROWS:]
    y_train, y_hold = y[:TRAIN_ROWS], y[TRAIN_ROWS:]
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    onehot = lambda: OneHotEncoder(handle_unknown="ignore", sparse_output=False)  # noqa: E731
    results = {"versions": {"scikit-learn": sklearn.__version__,
                            "lightgbm": lgb.__version__ if lgb else None},
               "features": {"numeric": numeric, "categorical": categorical},
               "train_rows": len(y_train), "holdout_rows": len(y_hold),
               "holdout_blocked": int(y_hold.sum()), "models": []}

    def report(name, search, started):
        holdout = roc_auc_score(y_hold, search.predict_proba(x_hold)[:, 1])
        params = {k.split("__")[-1]: v for k, v in search.best_params_.items()}
        results["models"].append({"name": name, "cv_auc": search.best_score_,
                                  "holdout_auc": holdout, "params": params,
                                  "seconds": time.monotonic() - started})

    started = time.monotonic()
    logistic = Pipeline([
        ("encode", ColumnTransformer([("num", StandardScaler(), numeric),
                                      ("cat", onehot(), categorical)])),
        ("model", LogisticRegression(max_iter=10_000)),
    ])
    search = GridSearchCV(logistic, {"model__C": np.logspace(-3, 2, 16).tolist()},
                          scoring="roc_auc", cv=cv, n_jobs=1)
    search.fit(x_train, y_train)
    report("logistic_regression (scikit-learn)", search, started)

    if lgb is None:
        results["lightgbm_missing"] = lightgbm_missing
        print(json.dumps(results))
        return
    started = time.monotonic()
    booster = Pipeline([
        ("encode", ColumnTransformer([("num", "passthrough", numeric),
                                      ("cat", onehot(), categorical)])),
        ("model", lgb.LGBMClassifier(subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                                     min_child_samples=20, random_state=0, n_jobs=2,
                                     verbosity=-1)),
    ])
    grid = {"model__num_leaves": [4, 8, 16], "model__learning_rate": [0.02, 0.05],
            "model__n_estimators": [100, 300, 600]}
    search = GridSearchCV(booster, grid, scoring="roc_auc", cv=cv, n_jobs=1)
    search.fit(x_train, y_train)
    report("lightgbm", search, started)
    print(json.dumps(results))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "convert":
        convert(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "baselines":
        baselines(sys.argv[2])
    else:
        sys.exit(__doc__)
