//! The portal's words in Azerbaijani (the default), English and Russian.
//!
//! One table, one row per message; a test checks that no row lacks a language. Texts that come
//! from the registry (service names) carry their own translations (`korpu_conf::Localized`).

/// A language the portal speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Az,
    En,
    Ru,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Az, Lang::En, Lang::Ru];

    /// From a code; `None` for codes the portal does not speak.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "az" => Some(Lang::Az),
            "en" => Some(Lang::En),
            "ru" => Some(Lang::Ru),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Az => "az",
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }
    /// The language's name in itself, for the switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Az => "Azərbaycanca",
            Lang::En => "English",
            Lang::Ru => "Русский",
        }
    }
    /// The message `key` in this language. Unknown keys return the key itself, so a typo shows
    /// on the page instead of an empty string (and the tests catch it).
    pub fn t(self, key: &str) -> &'static str {
        match TABLE.iter().find(|row| row.0 == key) {
            Some((_, az, en, ru)) => match self {
                Lang::Az => az,
                Lang::En => en,
                Lang::Ru => ru,
            },
            None => "??",
        }
    }
}

/// (key, az, en, ru)
pub const TABLE: &[(&str, &str, &str, &str)] = &[
    ("site", "myGov", "myGov", "myGov"),
    ("tagline", "Dövlət xidmətləri bir yerdə", "Government services in one place", "Государственные услуги в одном месте"),
    ("skip", "Əsas məzmuna keçin", "Skip to main content", "Перейти к основному содержанию"),
    ("nav_services", "Xidmətlər", "Services", "Услуги"),
    ("nav_applications", "Müraciətlərim", "My applications", "Мои заявления"),
    ("nav_tracker", "Məlumatlarıma kim baxıb", "Who accessed my data", "Кто смотрел мои данные"),
    ("nav_consents", "Razılıqlar", "Consents", "Согласия"),
    ("nav_notifications", "Bildirişlər", "Notifications", "Уведомления"),
    ("login", "Daxil olun", "Sign in", "Войти"),
    ("logout", "Çıxış", "Sign out", "Выйти"),
    ("signed_in_as", "Daxil olan istifadəçi:", "Signed in as", "Вы вошли как"),
    ("language", "Dil", "Language", "Язык"),
    ("home_title", "Dövlət xidmətlərindən onlayn istifadə edin", "Use government services online", "Пользуйтесь государственными услугами онлайн"),
    ("home_lead", "Müraciət edin, vəziyyəti izləyin, imzalı sənədləri alın və məlumatlarınıza kimin baxdığını görün.", "Apply, track the status, receive signed documents and see who looked at your data.", "Подавайте заявления, следите за статусом, получайте подписанные документы и смотрите, кто обращался к вашим данным."),
    ("start", "Xidmətlərə baxın", "Browse services", "Смотреть услуги"),
    ("catalogue_title", "Xidmətlər", "Services", "Услуги"),
    ("search_label", "Xidmət axtarın", "Search for a service", "Поиск услуги"),
    ("search_button", "Axtar", "Search", "Найти"),
    ("category", "Kateqoriya", "Category", "Категория"),
    ("all_categories", "Bütün kateqoriyalar", "All categories", "Все категории"),
    ("results", "nəticə", "results", "результатов"),
    ("no_results", "Heç nə tapılmadı. Başqa söz yoxlayın.", "Nothing found. Try another word.", "Ничего не найдено. Попробуйте другое слово."),
    ("agency", "Qurum", "Agency", "Ведомство"),
    ("what_you_need", "Sizə lazım olanlar", "What you need", "Что вам понадобится"),
    ("apply_now", "Müraciət edin", "Apply now", "Подать заявление"),
    ("login_to_apply", "Müraciət etmək üçün daxil olun", "Sign in to apply", "Войдите, чтобы подать заявление"),
    ("no_form", "Bu xidmət üçün onlayn müraciət yoxdur.", "This service has no online application.", "Для этой услуги нет онлайн-заявления."),
    ("form_title", "Müraciət", "Application", "Заявление"),
    ("submit", "Göndərin", "Submit", "Отправить"),
    ("error_summary", "Problem var", "There is a problem", "Есть проблема"),
    ("err_required", "Bu sahəni doldurun", "Fill in this field", "Заполните это поле"),
    ("err_pattern", "Düzgün formatda daxil edin", "Enter it in the correct format", "Введите в правильном формате"),
    ("err_number", "Rəqəm daxil edin", "Enter a number", "Введите число"),
    ("err_integer", "Tam ədəd daxil edin", "Enter a whole number", "Введите целое число"),
    ("err_min", "Dəyər çox kiçikdir; minimum:", "The value is too small; the minimum is", "Значение слишком маленькое; минимум:"),
    ("err_max", "Dəyər çox böyükdür; maksimum:", "The value is too large; the maximum is", "Значение слишком большое; максимум:"),
    ("err_minlength", "Çox qısadır; minimum simvol:", "Too short; minimum characters:", "Слишком коротко; минимум символов:"),
    ("err_maxlength", "Çox uzundur; maksimum simvol:", "Too long; maximum characters:", "Слишком длинно; максимум символов:"),
    ("err_enum", "Siyahıdan seçin", "Choose one of the options", "Выберите один из вариантов"),
    ("err_date", "Tarixi İİİİ-AA-GG formatında daxil edin", "Enter a date as YYYY-MM-DD", "Введите дату в формате ГГГГ-ММ-ДД"),
    ("err_email", "E-poçt ünvanını düzgün daxil edin", "Enter a valid e-mail address", "Введите правильный адрес электронной почты"),
    ("choose", "Seçin", "Choose", "Выберите"),
    ("yes", "Bəli", "Yes", "Да"),
    ("applications_title", "Müraciətlərim", "My applications", "Мои заявления"),
    ("no_applications", "Hələ müraciətiniz yoxdur.", "You have no applications yet.", "У вас пока нет заявлений."),
    ("reference", "Nömrə", "Reference", "Номер"),
    ("status", "Vəziyyət", "Status", "Статус"),
    ("submitted_at", "Göndərilib", "Submitted", "Отправлено"),
    ("history", "Tarixçə", "History", "История"),
    ("messages", "Qurumdan mesajlar", "Messages from the agency", "Сообщения от ведомства"),
    ("documents", "Sənədlər", "Documents", "Документы"),
    ("download", "Yükləyin", "Download", "Скачать"),
    ("verify", "İmzanı yoxlayın", "Verify the signature", "Проверить подпись"),
    ("verified_by", "Təsdiqləndi: imzalayan", "Verified: signed by", "Проверено: подписал"),
    ("not_verified", "İmza təsdiqlənmədi:", "The signature did not verify:", "Подпись не подтверждена:"),
    ("refresh", "Yeniləyin", "Refresh", "Обновить"),
    ("st_submitted", "Göndərilib", "Submitted", "Отправлено"),
    ("st_in_review", "Baxılır", "In review", "На рассмотрении"),
    ("st_decided", "Qərar verilib", "Decided", "Решение принято"),
    ("st_rejected", "Rədd edilib", "Rejected", "Отклонено"),
    ("st_unknown", "Naməlum", "Unknown", "Неизвестно"),
    ("applied_ok", "Müraciətiniz göndərildi", "Your application was sent", "Ваше заявление отправлено"),
    ("bridge_failed", "Müraciət quruma çatdırılmadı. Bir az sonra yenidən cəhd edin.", "The application could not reach the agency. Try again in a few minutes.", "Заявление не удалось доставить в ведомство. Попробуйте через несколько минут."),
    ("tracker_title", "Məlumatlarıma kim baxıb", "Who accessed my data", "Кто смотрел мои данные"),
    ("tracker_lead", "Hər dövlət sistemi məlumatlarınıza müraciəti qeydə alır. Hər qeyd jurnalda olduğunun sübutu ilə yoxlanılır.", "Every government system records each access to your data. Each entry is checked against a proof that it is in the ledger.", "Каждая государственная система записывает обращения к вашим данным. Каждая запись проверяется доказательством её наличия в журнале."),
    ("when", "Nə vaxt", "When", "Когда"),
    ("who", "Kim", "Who", "Кто"),
    ("system", "Sistem", "System", "Система"),
    ("what", "Nə", "What", "Что"),
    ("purpose", "Məqsəd", "Purpose", "Цель"),
    ("proof", "Sübut", "Proof", "Доказательство"),
    ("proof_ok", "Yoxlanıldı", "Verified", "Проверено"),
    ("proof_bad", "Yoxlanılmadı", "Not verified", "Не проверено"),
    ("no_accesses", "Qeyd yoxdur.", "No entries.", "Записей нет."),
    ("own_requests", "myGov vasitəsilə öz sorğularınız (siyahıda göstərilmir):", "Your own requests through myGov (not listed):", "Ваши собственные запросы через myGov (не показаны):"),
    ("tracker_unavailable", "Bu qurumun jurnalı hazırda əlçatan deyil:", "This agency's ledger is not available right now:", "Журнал этого ведомства сейчас недоступен:"),
    ("consents_title", "Razılıqlar", "Consents", "Согласия"),
    ("consents_lead", "Şirkətlərin məlumatlarınızı oxumasına razılıq verin və ya geri götürün.", "Grant or withdraw consent for companies to read your data.", "Давайте или отзывайте согласие компаниям на чтение ваших данных."),
    ("consent_request", "Razılıq sorğusu", "Consent request", "Запрос согласия"),
    ("company", "Şirkət", "Company", "Компания"),
    ("application", "Tətbiq", "Application", "Приложение"),
    ("data_items", "İstənilən məlumatlar", "Data requested", "Запрашиваемые данные"),
    ("valid_until", "Etibarlıdır", "Valid until", "Действует до"),
    ("expiry", "Nə qədər müddətə", "For how long", "На какой срок"),
    ("days_30", "30 gün", "30 days", "30 дней"),
    ("days_90", "90 gün", "90 days", "90 дней"),
    ("days_365", "1 il", "1 year", "1 год"),
    ("grant", "Razılıq verin", "Give consent", "Дать согласие"),
    ("revoke", "Geri götürün", "Withdraw consent", "Отозвать согласие"),
    ("granted", "Verilib", "Granted", "Дано"),
    ("revoked", "Geri götürülüb", "Withdrawn", "Отозвано"),
    ("expired", "Müddəti bitib", "Expired", "Истекло"),
    ("no_consents", "Razılığınız yoxdur.", "You have given no consents.", "Вы не давали согласий."),
    ("unknown_company", "Naməlum şirkət", "Unknown company", "Неизвестная компания"),
    ("notifications_title", "Bildirişlər", "Notifications", "Уведомления"),
    ("no_notifications", "Bildiriş yoxdur.", "No notifications.", "Уведомлений нет."),
    ("n_status", "Müraciətinizin vəziyyəti dəyişdi:", "Your application's status changed:", "Статус вашего заявления изменился:"),
    ("n_consent_granted", "Razılıq verdiniz:", "You gave consent to", "Вы дали согласие:"),
    ("n_consent_revoked", "Razılığı geri götürdünüz:", "You withdrew consent from", "Вы отозвали согласие:"),
    ("not_found", "Səhifə tapılmadı", "Page not found", "Страница не найдена"),
    ("not_found_lead", "Ünvanı yoxlayın və ya xidmətlər siyahısından başlayın.", "Check the address, or start from the list of services.", "Проверьте адрес или начните со списка услуг."),
    ("error_title", "Xəta baş verdi", "Something went wrong", "Произошла ошибка"),
    ("too_many", "Çox sayda giriş cəhdi. Bir dəqiqə gözləyin.", "Too many sign-in attempts. Wait a minute.", "Слишком много попыток входа. Подождите минуту."),
    ("login_failed", "Giriş alınmadı. Yenidən cəhd edin.", "Signing in did not work. Try again.", "Войти не удалось. Попробуйте снова."),
    ("csrf_failed", "Forma köhnəlib. Səhifəni yeniləyib yenidən göndərin.", "The form has expired. Reload the page and send it again.", "Форма устарела. Обновите страницу и отправьте снова."),
    ("footer", "Körpü — açıq mənbəli rəqəmsal hökumət platforması", "Körpü — an open-source digital-government platform", "Кёрпю — открытая платформа цифрового государства"),
    ("back", "Geri", "Back", "Назад"),
    ("optional", "(istəyə bağlı)", "(optional)", "(необязательно)"),
    ("dev_idp_title", "İnkişaf üçün identifikasiya provayderi — istehsal üçün deyil", "Development identity provider — not for production", "Тестовый провайдер идентификации — не для эксплуатации"),
    ("dev_idp_pin", "Şəxsiyyət vəsiqəsinin FİN kodu", "Personal id (FIN)", "Личный код (FIN)"),
    ("dev_idp_name", "Ad və soyad", "Full name", "Имя и фамилия"),
    ("dev_idp_email", "E-poçt", "E-mail", "Электронная почта"),
    ("continue", "Davam edin", "Continue", "Продолжить"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_has_every_language_and_keys_are_unique() {
        let mut keys = std::collections::HashSet::new();
        for (key, az, en, ru) in TABLE {
            assert!(keys.insert(*key), "duplicate key {key}");
            assert!(!az.is_empty() && !en.is_empty() && !ru.is_empty(), "{key}");
        }
        assert_eq!(Lang::Ru.t("login"), "Войти");
        assert_eq!(Lang::default(), Lang::Az);
        assert_eq!(Lang::En.t("no-such-key"), "??");
    }
}
